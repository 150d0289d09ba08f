// zephyr-opt: mlir-opt with zephyr's dialects, passes and pipelines, for running any of them on an
// .mlir file (test/lit/passes/). The one tool outside lib/compiler that includes MLIR: it is an
// MLIR driver, built from lib/compiler's internal headers.
#include "mlir/InitAllPasses.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir_internal.h"
#include "passes.h"

int main(int argc, char** argv) {
  mlir::registerAllPasses();  // canonicalize, cse, the upstream conversions, --transform-interpreter
  zephyr::compiler::register_passes();
  zephyr::compiler::register_pipelines();
  mlir::DialectRegistry registry = zephyr::compiler::dialect_registry();
  return mlir::asMainReturnCode(mlir::MlirOptMain(argc, argv, "zephyr-opt: zephyr's passes on .mlir files\n", registry));
}
