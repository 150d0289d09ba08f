// Internal to lib/compiler: the MLIR-typed pieces shared by its translation units.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Pass/PassManager.h"
#include "zephyr/compiler.h"

namespace zephyr::compiler {

/// The dialects, interfaces and translations the pipeline uses.
mlir::DialectRegistry dialect_registry();
/// A context with exactly those.
std::unique_ptr<mlir::MLIRContext> make_context();

/// Our graph as func + linalg/tensor/arith/math on tensors (emit_linalg.cpp).
mlir::OwningOpRef<mlir::ModuleOp> emit_module(mlir::MLIRContext& context, const Function& function);
/// Several functions (kernels compiled together) in one module.
mlir::OwningOpRef<mlir::ModuleOp> emit_module(mlir::MLIRContext& context, std::span<const Function> functions);

/// Runs the pipeline in place up to and including `stage` (pipeline.cpp). Stages past
/// llvm_dialect are produced by native_code.cpp from the LLVM dialect.
void lower_module(mlir::ModuleOp module, Stage stage, const Options& options);

/// The same pipeline, built once and run on module after module of one context: building and
/// first running a pass manager sets up every canonicalizer's patterns, a fixed cost that was
/// half of a small kernel's MLIR time.
class Lowering {
 public:
  Lowering(mlir::MLIRContext& context, Stage stage, const Options& options);
  ~Lowering();
  void run(mlir::ModuleOp module);

 private:
  std::unique_ptr<mlir::PassManager> passes_;
  Stage stage_;
};

/// Makes the stages known to MLIR's pass parser as pipelines: zephyr-to-linalg{threads, vectorize},
/// zephyr-to-buffers, zephyr-to-llvm{threads} (zephyr-opt).
void register_pipelines();

/// Prints a module; `locations` adds loc(...) annotations.
std::string print_module(mlir::ModuleOp module, bool locations);

}  // namespace zephyr::compiler
