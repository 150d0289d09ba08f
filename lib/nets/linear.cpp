#include "zephyr/nets/linear.h"

namespace zephyr::nets {

Tensor linear(Params p, Tensor x, int64_t out, bool with_bias, const Initializer& initializer, Loc loc) {
  p["weights"] == array({x.shape(-1), out}, initializer, x.dtype(), loc);
  Tensor y = matmul(x, p["weights"].tensor(loc), loc);
  if (with_bias) {
    p["bias"] == array({out}, init::zeros, x.dtype(), loc);
    y = add(y, p["bias"].tensor(loc), loc);
  }
  return y;
}

Tensor branch_linear(Params p, Tensor x, int64_t branches, bool with_bias, const Initializer& initializer, Loc loc) {
  int64_t e = x.shape(-1);
  Tensor y = linear(p, x, branches * e, with_bias, initializer, loc);
  Shape shape = x.shape();
  shape.back() = branches;
  shape.push_back(e);
  return reshape(y, shape, loc);
}

Tensor linear_like(Params p, Tensor x, const Tensor& reference, bool with_bias, const Initializer& initializer,
                   Loc loc) {
  return linear(p, x, reference.shape(-1), with_bias, initializer, loc);
}

Tensor mlp(Params p, Tensor x, const std::vector<int64_t>& out_dims, MlpOptions options, Loc loc) {
  for (size_t i = 0; i < out_dims.size(); ++i) {
    x = linear(p[static_cast<int>(i)], x, out_dims[i], options.with_bias, init::base, loc);
    bool last = i + 1 == out_dims.size();
    Activation act = last ? options.final_activation : options.activation;
    if (act) x = act(x, loc);
  }
  return x;
}

}  // namespace zephyr::nets
