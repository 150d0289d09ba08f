// Normalization layers, composed from reductions (their gradients come from the primitives).
#include "zephyr/nets/norm.h"

#include "layer.h"

namespace zephyr::nets {

Tensor layer_norm(Params p, Tensor x, int64_t axis, const NormOptions& o, Loc loc) {
  return detail::in_layer(p, [&] {
    int64_t a = normalize_axis(axis, x.ndim(), "layer_norm");
    // One value per position on the axis, shaped to broadcast from there: [256] for the last
    // axis, as Haiku and PyTorch shape it, [C, 1, 1] for axis 1 of an NCHW tensor.
    Shape shape(static_cast<size_t>(x.ndim() - a), 1);
    shape[0] = x.shape(a);
    Tensor mean_ = mean(x, {a}, true, loc);
    Tensor centered = sub(x, mean_, loc);
    Tensor y = mul(centered, rsqrt(add(mean(square(centered, loc), {a}, true, loc), scalar(o.eps, x.dtype(), loc), loc), loc), loc);
    if (o.create_scale) y = mul(y, validate(p["scale"], shape, init::ones, x.dtype(), loc), loc);
    if (o.create_offset) y = add(y, validate(p["offset"], shape, init::zeros, x.dtype(), loc), loc);
    return y;
  });
}

Tensor rms_norm(Params p, Tensor x, const NormOptions& o, Loc loc) {
  return detail::in_layer(p, [&] {
    Tensor ms = mean(square(x, loc), {-1}, true, loc);
    Tensor y = mul(x, rsqrt(add(ms, scalar(o.eps, x.dtype(), loc), loc), loc), loc);
    if (o.create_scale) y = mul(y, validate(p["scale"], {x.shape(-1)}, init::ones, x.dtype(), loc), loc);
    return y;
  });
}

BatchNorm batch_norm(Params p, Tensor x, bool training, double momentum, const NormOptions& o, Loc loc) {
  return detail::in_layer(p, [&] {
    if (x.ndim() < 2)
      fail_at(SourceLoc::from(loc), "batch_norm", "needs (batch..., channels), got " + to_string(x.shape()));
    int64_t channels = x.shape(-1);
    Tensor running_mean = validate(p["running_mean"], {channels}, init::zeros, x.dtype(), loc);
    Tensor running_var = validate(p["running_var"], {channels}, init::ones, x.dtype(), loc);
    Axes batch_axes;
    for (int64_t i = 0; i + 1 < x.ndim(); ++i) batch_axes.push_back(i);
    Tensor m = running_mean, v = running_var;
    BatchNorm out;
    if (training) {
      m = mean(x, batch_axes, false, loc);
      v = var(x, batch_axes, false, loc);
      Tensor keep = scalar(momentum, x.dtype(), loc), take_new = scalar(1.0 - momentum, x.dtype(), loc);
      out.running_mean = add(mul(keep, running_mean, loc), mul(take_new, m, loc), loc);
      out.running_var = add(mul(keep, running_var, loc), mul(take_new, v, loc), loc);
    } else {
      out.running_mean = running_mean;
      out.running_var = running_var;
    }
    Tensor y = mul(sub(x, m, loc), rsqrt(add(v, scalar(o.eps, x.dtype(), loc), loc), loc), loc);
    if (o.create_scale) y = mul(y, validate(p["scale"], {channels}, init::ones, x.dtype(), loc), loc);
    if (o.create_offset) y = add(y, validate(p["offset"], {channels}, init::zeros, x.dtype(), loc), loc);
    out.y = y;
    return out;
  });
}

}  // namespace zephyr::nets
