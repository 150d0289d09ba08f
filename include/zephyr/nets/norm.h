// Normalization layers.
#pragma once

#include "zephyr/ops.h"
#include "zephyr/compose.h"
#include "zephyr/params.h"

namespace zephyr::nets {

/// Options of layer_norm, rms_norm and batch_norm.
struct NormOptions {
  bool create_scale = true;   ///< "scale", initialized to ones
  bool create_offset = true;  ///< "offset", initialized to zeros (rms_norm has none)
  double eps = 1e-5;          ///< added under the square root
};

/// (x - mean) / sqrt(var + eps) * scale + offset over `axis`. Scale and offset hold one value per
/// position on `axis`, shaped to broadcast from there: [256] over the last axis of [B, T, 256]
/// (as in Haiku and PyTorch), [C, 1, 1] over axis 1 of [N, C, H, W].
Tensor layer_norm(Params p, Tensor x, int64_t axis = -1, const NormOptions& options = {}, Loc loc = Loc::current());

/// x / sqrt(mean(x^2) + eps) * scale over the last axis; "scale" has shape (x.shape[-1]).
Tensor rms_norm(Params p, Tensor x, const NormOptions& options = {}, Loc loc = Loc::current());

/// Batch norm over every axis but the last. The running statistics are parameters too
/// ("running_mean", "running_var": traced, checkpointed) that the caller replaces with the
/// returned values after a training step; they get no gradient. Eval mode normalizes with them.
struct BatchNorm {
  Tensor y;             ///< x normalized
  Tensor running_mean;  ///< the next "running_mean" (training: updated by momentum; eval: unchanged)
  Tensor running_var;   ///< the next "running_var", likewise
};
BatchNorm batch_norm(Params p, Tensor x, bool training, double momentum = 0.9, const NormOptions& options = {},
                     Loc loc = Loc::current());

// ---- With a hole for the input: Tensor(Tensor) layers for chain (see zephyr/compose.h) ----
inline Layer layer_norm(Params p, Hole, int64_t axis = -1, const NormOptions& options = {}, Loc loc = Loc::current()) {
  return [=](const Tensor& x) { return layer_norm(p, x, axis, options, loc); };
}
inline Layer rms_norm(Params p, Hole, const NormOptions& options = {}, Loc loc = Loc::current()) {
  return [=](const Tensor& x) { return rms_norm(p, x, options, loc); };
}

}  // namespace zephyr::nets
