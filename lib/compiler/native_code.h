// Object code for one kernel, and what it depends on besides the kernel (native_code.cpp). Plain
// C++: the schedule and the compile cache use it without MLIR.
#pragma once

#include <span>
#include <string>

#include "zephyr/compiler.h"

namespace zephyr::compiler {

/// An object file for the host CPU defining, for each kernel, `void <kernel.name>(inputs...,
/// outputs...)` and `void <kernel.name>_packed(void** pointers)`, which calls it with
/// pointers[0..n). Kernels are compiled together to share the fixed cost of a compile (a
/// pipeline, an LLVM module, a code generator), which is most of a small kernel's. `options` must
/// have its thread count decided (not 0).
struct KernelObject {
  std::string object;
  double mlir_seconds = 0, llvm_seconds = 0, codegen_seconds = 0;  // lowering, LLVM IR + O2, object
};
KernelObject kernel_object(std::span<const Function> kernels, const Options& options);

/// Drops the idle toolchains (MLIR contexts, target machines, pass pipelines) kept for the next
/// compile: the next one pays for making them, as a new process would.
void forget_toolchains();

/// Options with the thread count decided: 0 means every core in the JIT (`jit`), and one thread
/// for IR dumps and ahead-of-time objects, which must not need an OpenMP runtime.
Options resolved(Options options, bool jit);

/// Everything besides the kernel that its object code depends on: LLVM's version, the target
/// triple, CPU and features, and the optimization level. Part of every compile-cache key.
std::string target_description();

}  // namespace zephyr::compiler
