// Normalization layers, composed from reductions; layer norm has its gradient written out.
#include "zephyr/nets/norm.h"

#include "../primitives/rules.h"  // unbroadcast: the scale's and offset's gradients
#include "layer.h"
#include "zephyr/custom_vjp.h"

namespace zephyr::nets {

// The value is composed from reductions; the gradient is written out, as PyTorch's native layer
// norm has it. With x̂ = (x − μ)·r and g = dy·scale:
//   dx = r·(g − mean(g) − x̂·mean(g·x̂)),  dscale = Σ dy·x̂,  doffset = Σ dy.
// The rule's inputs are x, scale, offset and the row statistics μ and r (which get no gradient of
// their own: dx is the whole derivative), so the backward pass recomputes x̂ inside the passes
// that read it. Differentiated as a composite, the centered x, the variance, its rsqrt and x̂ were
// each stored for the backward pass and each a kernel of its own, forward and backward.
Tensor layer_norm(Params p, Tensor x, int64_t axis, const NormOptions& o, Loc loc) {
  return detail::in_layer(p, [&] {
    int64_t a = normalize_axis(axis, x.ndim(), "layer_norm");
    // One value per position on the axis, shaped to broadcast from there: [256] for the last
    // axis, as Haiku and PyTorch shape it, [C, 1, 1] for axis 1 of an NCHW tensor.
    Shape shape(static_cast<size_t>(x.ndim() - a), 1);
    shape[0] = x.shape(a);
    const Tensor scale = o.create_scale ? validate(p["scale"], shape, init::ones, x.dtype(), loc) : Tensor();
    const Tensor offset = o.create_offset ? validate(p["offset"], shape, init::zeros, x.dtype(), loc) : Tensor();
    const Tensor mu = mean(x, {a}, true, loc);
    // x − μ is formed once per reader (the variance's pass, the output's), so that each pass
    // computes it rather than storing it: a value read by two ops is stored by the partition
    // (one op reading it twice, as square's mul, is not).
    auto centered = [&x, &mu, loc] { return sub(x, mu, loc); };
    const Tensor r = rsqrt(add(mean(square(centered(), loc), {a}, true, loc), scalar(o.eps, x.dtype(), loc), loc), loc);
    auto affine = [&](Tensor normed, const Tensor& s, const Tensor& b) {
      if (s.defined()) normed = mul(normed, s, loc);
      if (b.defined()) normed = add(normed, b, loc);
      return normed;
    };
    const Tensor y = affine(mul(centered(), r, loc), scale, offset);

    // Inputs: x, then scale and offset where present, then μ and r.
    std::vector<Tensor> inputs{x};
    if (scale.defined()) inputs.push_back(scale);
    if (offset.defined()) inputs.push_back(offset);
    inputs.push_back(mu);
    inputs.push_back(r);
    auto rule = std::make_shared<CustomRule>();
    rule->where = SourceLoc::from(loc);
    rule->jvp_through_value = true;
    rule->vjp = [a, loc, has_scale = scale.defined(), has_offset = offset.defined()](const std::vector<Tensor>& in,
                                                                                      const Tensor& dy) {
      size_t next = 1;
      const Tensor s = has_scale ? in[next++] : Tensor();
      const Tensor b = has_offset ? in[next++] : Tensor();
      const Tensor& mu = in[next];
      const Tensor& r = in[next + 1];
      auto x_hat = [&] { return mul(sub(in[0], mu, loc), r, loc); };  // once per reader, as above
      const Tensor g = s.defined() ? mul(dy, s, loc) : dy;
      const Tensor dx = mul(r, sub(sub(g, mean(g, {a}, true, loc), loc), mul(x_hat(), mean(mul(g, x_hat(), loc), {a}, true, loc), loc), loc), loc);
      std::vector<Tensor> grads{dx};
      if (s.defined()) grads.push_back(primitives::unbroadcast(mul(dy, x_hat(), loc), s.shape()));
      if (b.defined()) grads.push_back(primitives::unbroadcast(dy, b.shape()));
      grads.push_back(Tensor());
      grads.push_back(Tensor());
      return grads;
    };
    return zephyr::detail::with_custom_vjp(inputs, y, std::move(rule));
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
