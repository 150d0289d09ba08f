// nets::linear and nets::mlp, written exactly as a user would write them.
#pragma once

#include <vector>

#include "zephyr/ops.h"
#include "zephyr/compose.h"
#include "zephyr/params.h"

namespace zephyr::nets {

/// An elementwise activation: Tensor -> Tensor.
using Activation = Tensor (*)(const Tensor&, Loc);

/// y = x @ W + b, with W of shape (in, out) under p["weights"] and b of shape (out) under p["bias"].
Tensor linear(Params p, Tensor x, int64_t out, bool with_bias = true,
              const Initializer& initializer = init::base, Loc loc = Loc::current());

/// x of shape (..., e) to (..., branches, e): one linear layer with branches * e outputs.
Tensor branch_linear(Params p, Tensor x, int64_t branches, bool with_bias = true,
                     const Initializer& initializer = init::base, Loc loc = Loc::current());

/// Projects x to the last extent of `reference`.
Tensor linear_like(Params p, Tensor x, const Tensor& reference, bool with_bias = true,
                   const Initializer& initializer = init::base, Loc loc = Loc::current());

/// Options of mlp.
struct MlpOptions {
  Activation activation = relu;           ///< after every layer but the last
  Activation final_activation = nullptr;  ///< none: the last layer is linear
  bool with_bias = true;                  ///< a "bias" in every layer
};

/// Linear layers p[0], p[1], ... with `out_dims[i]` outputs each and the activation between them.
Tensor mlp(Params p, Tensor x, const std::vector<int64_t>& out_dims, MlpOptions options = {},
           Loc loc = Loc::current());

// ---- With a hole for the input: Tensor(Tensor) layers for chain (see zephyr/compose.h) ----
inline Layer linear(Params p, Hole, int64_t out, bool with_bias = true, const Initializer& initializer = init::base,
                    Loc loc = Loc::current()) {
  return [=](const Tensor& x) { return linear(p, x, out, with_bias, initializer, loc); };
}
inline Layer branch_linear(Params p, Hole, int64_t branches, bool with_bias = true,
                           const Initializer& initializer = init::base, Loc loc = Loc::current()) {
  return [=](const Tensor& x) { return branch_linear(p, x, branches, with_bias, initializer, loc); };
}
inline Layer mlp(Params p, Hole, const std::vector<int64_t>& out_dims, MlpOptions options = {}, Loc loc = Loc::current()) {
  return [=](const Tensor& x) { return mlp(p, x, out_dims, options, loc); };
}

}  // namespace zephyr::nets
