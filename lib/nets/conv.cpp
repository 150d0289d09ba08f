// Convolution layers: parameters declared here, the arithmetic in ops' conv (im2col + matmul).
#include "zephyr/nets/conv.h"

#include "layer.h"

namespace zephyr::nets {
namespace {

using detail::per_axis;

// The spatial (low, high) pairs of a padding spec, for the given (already dilated) input.
Padding resolve(const PaddingSpec& spec, const Shape& spatial, const Shape& window, const Shape& stride,
                const Shape& rate, const SourceLoc& where, const char* layer) {
  if (spec.preset == "SAME") return same_padding(spatial, window, stride, rate);
  if (spec.preset == "VALID") return Padding(spatial.size(), {0, 0});
  if (!spec.preset.empty())
    fail_at(where, layer, fmt::format("padding \"{}\" is not SAME, VALID or explicit pairs", spec.preset));
  if (spec.pairs.size() != spatial.size())
    fail_at(where, layer, fmt::format("needs {} (low, high) padding pairs, got {}", spatial.size(), spec.pairs.size()));
  return spec.pairs;
}

struct Prepared {
  Tensor x;       // batched
  bool batched;
  Shape kernel, stride, rate, dilation;
};

Prepared prepare(Tensor x, int d, const Shape& kernel, const ConvOptions& o, const SourceLoc& where, const char* layer) {
  if (d < 1) fail_at(where, layer, fmt::format("needs at least one spatial axis, got {}", d));
  if (x.ndim() != d + 1 && x.ndim() != d + 2)
    fail_at(where, layer, fmt::format("input {} must have rank {} (spatial..., channels) or {} (batch, spatial..., channels)",
                                      to_string(x.shape()), d + 1, d + 2));
  bool batched = x.ndim() == d + 2;
  if (!batched) x = expand_dims(x, 0);
  if (o.groups < 1 || x.shape(-1) % o.groups != 0)
    fail_at(where, layer, fmt::format("input channels {} of {} are not divisible by {} groups", x.shape(-1),
                                      to_string(x.shape()), o.groups));
  size_t n = static_cast<size_t>(d);
  return {x, batched, per_axis(kernel, n, where, layer, "kernel"), per_axis(o.stride, n, where, layer, "stride"),
          per_axis(o.rate, n, where, layer, "rate"), per_axis(o.dilation, n, where, layer, "dilation")};
}

Tensor finish(Params p, Tensor y, bool batched, int64_t out, const ConvOptions& o, Loc loc) {
  if (o.with_bias) y = add(y, validate(p["bias"], {out}, o.bias_init, y.dtype(), loc), loc);
  return batched ? y : squeeze(y, {0}, loc);
}

Tensor weights(Params p, const Prepared& c, int64_t out, const ConvOptions& o, Loc loc) {
  Shape shape = c.kernel;
  shape.push_back(c.x.shape(-1) / o.groups);
  shape.push_back(out);
  Tensor w = validate(p["weights"], shape, o.weights_init, c.x.dtype(), loc);
  return o.mask.defined() ? mul(w, cast(o.mask, w.dtype(), loc), loc) : w;
}

Shape spatial_of(const Tensor& x) { return Shape(x.shape().begin() + 1, x.shape().end() - 1); }

}  // namespace

Tensor conv_general(Params p, Tensor x, int spatial_axes, int64_t out_channels, const Shape& kernel,
                    const ConvOptions& o, Loc loc) {
  return detail::in_layer(p, [&] {
    SourceLoc where = SourceLoc::from(loc);
    Prepared c = prepare(x, spatial_axes, kernel, o, where, "conv");
    Tensor w = weights(p, c, out_channels, o, loc);
    Shape dilated = spatial_of(c.x);
    for (size_t i = 0; i < dilated.size(); ++i) dilated[i] = (dilated[i] - 1) * c.dilation[i] + 1;
    ConvSpec spec{c.stride, resolve(o.padding, dilated, c.kernel, c.stride, c.rate, where, "conv"), c.dilation, c.rate,
                  o.groups};
    return finish(p, conv(c.x, w, spec, loc), c.batched, out_channels, o, loc);
  });
}

Tensor conv_transpose_general(Params p, Tensor x, int spatial_axes, int64_t out_channels, const Shape& kernel,
                              const ConvOptions& o, Loc loc) {
  return detail::in_layer(p, [&] {
    SourceLoc where = SourceLoc::from(loc);
    Prepared c = prepare(x, spatial_axes, kernel, o, where, "conv_transpose");
    Tensor w = weights(p, c, out_channels, o, loc);
    // jax.lax.conv_transpose: a stride-1 convolution of the input dilated by the stride.
    Padding padding;
    for (size_t i = 0; i < c.kernel.size(); ++i) {
      int64_t k = (c.kernel[i] - 1) * c.rate[i] + 1, s = c.stride[i];
      if (o.padding.preset == "SAME") {
        int64_t total = k + s - 2, low = s > k - 1 ? k - 1 : (total + 1) / 2;
        padding.emplace_back(low, total - low);
      } else if (o.padding.preset == "VALID") {
        int64_t total = k + s - 2 + std::max<int64_t>(k - s, 0);
        padding.emplace_back(k - 1, total - (k - 1));
      }
    }
    if (padding.empty()) padding = resolve(o.padding, spatial_of(c.x), c.kernel, c.stride, c.rate, where, "conv_transpose");
    ConvSpec spec{{}, padding, c.stride, c.rate, o.groups};
    return finish(p, conv(c.x, w, spec, loc), c.batched, out_channels, o, loc);
  });
}

Tensor conv_1d(Params p, Tensor x, int64_t out, const Shape& k, const ConvOptions& o, Loc loc) {
  return conv_general(p, x, 1, out, k, o, loc);
}
Tensor conv_2d(Params p, Tensor x, int64_t out, const Shape& k, const ConvOptions& o, Loc loc) {
  return conv_general(p, x, 2, out, k, o, loc);
}
Tensor conv_3d(Params p, Tensor x, int64_t out, const Shape& k, const ConvOptions& o, Loc loc) {
  return conv_general(p, x, 3, out, k, o, loc);
}
Tensor conv_transpose_1d(Params p, Tensor x, int64_t out, const Shape& k, const ConvOptions& o, Loc loc) {
  return conv_transpose_general(p, x, 1, out, k, o, loc);
}
Tensor conv_transpose_2d(Params p, Tensor x, int64_t out, const Shape& k, const ConvOptions& o, Loc loc) {
  return conv_transpose_general(p, x, 2, out, k, o, loc);
}
Tensor conv_transpose_3d(Params p, Tensor x, int64_t out, const Shape& k, const ConvOptions& o, Loc loc) {
  return conv_transpose_general(p, x, 3, out, k, o, loc);
}

}  // namespace zephyr::nets
