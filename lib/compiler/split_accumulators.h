// Internal to lib/compiler: a vectorized reduction loop whose few accumulators wait on their own
// FMA latency, given several independent accumulators (split_accumulators.cpp).
#pragma once

#include "mlir/IR/BuiltinOps.h"

namespace zephyr::compiler {

/// Rewrites each scf.for marked zephyr.matvec_k (a matrix-vector tile's k loop, transforms.mlir)
/// that carries one float vector of fewer than 8 zmm registers through a single FMA (or add) per
/// step into a loop of 2 to 4 steps at a time, one accumulator per step, summed after the loop.
/// The marks are removed.
void split_accumulator_chains(mlir::ModuleOp module);

}  // namespace zephyr::compiler
