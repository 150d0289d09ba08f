// Convolutions over channels-last input, with zephyr's parameters: "weights" of shape
// (kernel..., in / groups, out) and "bias" of shape (out).
#pragma once

#include <string>

#include "zephyr/ops.h"
#include "zephyr/compose.h"
#include "zephyr/params.h"

namespace zephyr::nets {

/// "SAME" (output extent ceil(input / stride)), "VALID" (no padding), or explicit (low, high) pairs.
struct PaddingSpec {
  std::string preset = "SAME";  ///< "SAME", "VALID", or empty for explicit pairs
  Padding pairs;                ///< the explicit (low, high) pairs, one per spatial axis
  PaddingSpec() = default;
  /// A preset by name: "SAME" or "VALID".
  PaddingSpec(const char* name) : preset(name) {}  // NOLINT: "SAME" reads as a padding
  /// Explicit (low, high) pairs.
  PaddingSpec(Padding explicit_pairs) : preset(), pairs(std::move(explicit_pairs)) {}  // NOLINT
};

/// Per-axis settings take one value per spatial axis, or a single value for all of them.
struct ConvOptions {
  Shape stride = {1};            ///< window step
  Shape rate = {1};              ///< kernel dilation
  PaddingSpec padding = "SAME";  ///< of the input, per spatial axis
  Shape dilation = {1};          ///< input dilation
  bool with_bias = true;         ///< add a "bias" parameter
  Tensor mask;                   ///< optional: multiplies the weights (same shape), e.g. causal kernels
  /// feature_group_count: in and out channels split into groups (depthwise: groups = in).
  int64_t groups = 1;
  Initializer weights_init = init::base;  ///< fills "weights"
  Initializer bias_init = init::zeros;    ///< fills "bias"
};

/// x: (batch, spatial..., channels) or unbatched (spatial..., channels), with `spatial_axes` axes.
Tensor conv_general(Params p, Tensor x, int spatial_axes, int64_t out_channels, const Shape& kernel,
                    const ConvOptions& options = {}, Loc loc = Loc::current());
Tensor conv_1d(Params p, Tensor x, int64_t out_channels, const Shape& kernel, const ConvOptions& options = {},
               Loc loc = Loc::current());
Tensor conv_2d(Params p, Tensor x, int64_t out_channels, const Shape& kernel, const ConvOptions& options = {},
               Loc loc = Loc::current());
Tensor conv_3d(Params p, Tensor x, int64_t out_channels, const Shape& kernel, const ConvOptions& options = {},
               Loc loc = Loc::current());

/// The transpose of a strided convolution, as jax.lax.conv_transpose (kernel not flipped): with
/// "SAME" the output extent is input * stride. `rate` dilates the kernel; `dilation` is unused.
Tensor conv_transpose_general(Params p, Tensor x, int spatial_axes, int64_t out_channels, const Shape& kernel,
                              const ConvOptions& options = {}, Loc loc = Loc::current());
Tensor conv_transpose_1d(Params p, Tensor x, int64_t out_channels, const Shape& kernel, const ConvOptions& options = {},
                         Loc loc = Loc::current());
Tensor conv_transpose_2d(Params p, Tensor x, int64_t out_channels, const Shape& kernel, const ConvOptions& options = {},
                         Loc loc = Loc::current());
Tensor conv_transpose_3d(Params p, Tensor x, int64_t out_channels, const Shape& kernel, const ConvOptions& options = {},
                         Loc loc = Loc::current());

/// Pooling over the spatial axes of channels-last x (batched or not): `window` has one entry
/// per spatial axis, and the spatial axes are the window.size() axes before the channels;
/// `stride` has as many entries or one for all. avg_pool divides by the number of real
/// (unpadded) elements in each window, as zephyr does for "SAME".
Tensor max_pool(Tensor x, const Shape& window, const Shape& stride = {1}, const PaddingSpec& padding = "VALID",
                Loc loc = Loc::current());
Tensor avg_pool(Tensor x, const Shape& window, const Shape& stride = {1}, const PaddingSpec& padding = "VALID",
                Loc loc = Loc::current());

// ---- With a hole for the input: Tensor(Tensor) layers for chain (see zephyr/compose.h) ----
inline Layer conv_1d(Params p, Hole, int64_t out_channels, const Shape& kernel, const ConvOptions& options = {},
                   Loc loc = Loc::current()) {
  return [=](const Tensor& x) { return conv_1d(p, x, out_channels, kernel, options, loc); };
}
inline Layer conv_2d(Params p, Hole, int64_t out_channels, const Shape& kernel, const ConvOptions& options = {},
                   Loc loc = Loc::current()) {
  return [=](const Tensor& x) { return conv_2d(p, x, out_channels, kernel, options, loc); };
}
inline Layer conv_3d(Params p, Hole, int64_t out_channels, const Shape& kernel, const ConvOptions& options = {},
                   Loc loc = Loc::current()) {
  return [=](const Tensor& x) { return conv_3d(p, x, out_channels, kernel, options, loc); };
}
inline Layer conv_transpose_1d(Params p, Hole, int64_t out_channels, const Shape& kernel, const ConvOptions& options = {},
                   Loc loc = Loc::current()) {
  return [=](const Tensor& x) { return conv_transpose_1d(p, x, out_channels, kernel, options, loc); };
}
inline Layer conv_transpose_2d(Params p, Hole, int64_t out_channels, const Shape& kernel, const ConvOptions& options = {},
                   Loc loc = Loc::current()) {
  return [=](const Tensor& x) { return conv_transpose_2d(p, x, out_channels, kernel, options, loc); };
}
inline Layer conv_transpose_3d(Params p, Hole, int64_t out_channels, const Shape& kernel, const ConvOptions& options = {},
                   Loc loc = Loc::current()) {
  return [=](const Tensor& x) { return conv_transpose_3d(p, x, out_channels, kernel, options, loc); };
}
inline Layer max_pool(Hole, const Shape& window, const Shape& stride = {1}, const PaddingSpec& padding = "VALID",
                      Loc loc = Loc::current()) {
  return [=](const Tensor& x) { return max_pool(x, window, stride, padding, loc); };
}
inline Layer avg_pool(Hole, const Shape& window, const Shape& stride = {1}, const PaddingSpec& padding = "VALID",
                      Loc loc = Loc::current()) {
  return [=](const Tensor& x) { return avg_pool(x, window, stride, padding, loc); };
}

}  // namespace zephyr::nets
