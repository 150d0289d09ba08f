// Internal to lib/compiler: the LLVM steps shared by the JIT, the kernels and the ahead-of-time
// object (defined in native_code.cpp).
#pragma once

#include <memory>
#include <string>

#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/Error.h"
#include "llvm/Target/TargetMachine.h"
#include "mlir/IR/BuiltinOps.h"

namespace zephyr::compiler {

/// Threaded code calls the OpenMP runtime (__kmpc_*): LLVM's libomp, from libomp-19-dev.
constexpr const char* kOpenMpRuntime = "/usr/lib/llvm-19/lib/libomp.so";

/// An llvm::Error's message (consuming it).
std::string error_text(llvm::Error error);

/// The host CPU with all its features (AVX-512 here), position-independent code.
std::unique_ptr<llvm::TargetMachine> host_target_machine();

/// An LLVM-dialect module as LLVM IR for `machine` (triple and data layout set), not yet optimized.
std::unique_ptr<llvm::Module> translate(mlir::ModuleOp module, llvm::LLVMContext& context,
                                        llvm::TargetMachine& machine);
/// LLVM's O2 pipeline for `machine` without its loop unroller (MLIR unrolled already), in place.
void optimize(llvm::Module& module, llvm::TargetMachine& machine);

/// `module` as an object file, or as assembly text, for `machine`.
std::string object_code(llvm::Module& module, llvm::TargetMachine& machine);
std::string assembly(llvm::Module& module, llvm::TargetMachine& machine);

/// `text` written to `path` through a temporary file renamed over it: a failed write never
/// leaves a partial file, nor replaces the one that was there.
void write_file_atomically(const std::string& path, const std::string& text);

}  // namespace zephyr::compiler
