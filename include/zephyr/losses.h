// Losses and metrics, composed from primitives (so they have gradients and fuse when compiled).
#pragma once

#include "zephyr/ops.h"
#include "zephyr/tensor_tree.h"

namespace zephyr::losses {

/// mean((prediction - target)²) over every element.
Tensor mse(const Tensor& prediction, const Tensor& target, Loc loc = Loc::current());
/// mean over the batch of -log softmax(logits)[label]; logits (..., classes), labels (...) i32.
/// Computed through log_softmax, so large logits do not overflow. A label outside [0, classes)
/// is a run-time check: the jit call throws Error naming the call site after it ran.
Tensor softmax_cross_entropy(const Tensor& logits, const Tensor& labels, Loc loc = Loc::current());
/// mean binary cross-entropy of sigmoid(logits) against targets in [0, 1], in the stable form
/// max(x, 0) - x·t + log(1 + exp(-|x|)).
Tensor binary_cross_entropy(const Tensor& logits, const Tensor& targets, Loc loc = Loc::current());
/// 0.5 · Σ leaf² over the tree (weight decay as a loss term).
Tensor l2_penalty(const TensorTree& params, Loc loc = Loc::current());

/// Labels as one-hot rows of `classes` floats of `dtype`.
Tensor one_hot(const Tensor& labels, int64_t classes, DType dtype = DType::f32, Loc loc = Loc::current());
/// Index of the largest entry along `axis` (the first one on ties), as i32.
Tensor argmax(const Tensor& x, int64_t axis = -1, Loc loc = Loc::current());

/// Throws naming the first label outside [0, classes) and its position.
void check_labels(const Array& labels, int64_t classes);

}  // namespace zephyr::losses

namespace zephyr::metrics {
/// Fraction of rows whose argmax equals the label (f32 scalar).
Tensor accuracy(const Tensor& logits, const Tensor& labels, Loc loc = Loc::current());
}  // namespace zephyr::metrics
