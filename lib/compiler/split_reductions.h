// Internal to lib/compiler: long reductions with a small result, split into a fixed number of
// chunks that the threads share (split_reductions.cpp).
#pragma once

#include "mlir/IR/BuiltinOps.h"

namespace zephyr::compiler {

/// Rewrites, on tensors, each f32 product with a small C and a long k (C = A·B or Aᵀ·B: a
/// convolution's weight gradient) into one product per chunk of k, each into its own partial C
/// (an scf.forall over the chunks), then C = init + Σ partials in chunk order; and each sum
/// whose first loop is a long reduction (a bias gradient over the batch) into partial sums over
/// chunks of that loop, then the same total. The chunk count is fixed, not the thread count's,
/// so every thread count computes the same bits.
void split_long_reductions(mlir::ModuleOp module);

}  // namespace zephyr::compiler
