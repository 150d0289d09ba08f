// checkpoint: rematerialization, as jax.checkpoint and hk.remat. The backward pass recomputes
// f's intermediates from its inputs instead of keeping them from the forward pass: memory for
// compute.
#pragma once

#include <functional>
#include <tuple>
#include <type_traits>
#include <vector>

#include "zephyr/jit.h"
#include "zephyr/tensor.h"

namespace zephyr {
namespace detail {

/// f's result as a node whose gradient recomputes f. `call(stand_ins)` runs f once, on stand-ins
/// for `inputs`. What f reads besides its inputs (parameters, closed-over Tensors) is found in the
/// graph and saved like an input, so its gradient flows too.
Tensor checkpointed(const std::vector<Tensor>& inputs,
                    const std::function<Tensor(const std::vector<Tensor>&)>& call, const SourceLoc& where);

}  // namespace detail

/// `f` whose intermediates are recomputed in the backward pass (jax.checkpoint). Only f's inputs,
/// and the parameters and Tensors it reads, are kept from the forward pass; the recomputation
/// runs once the cotangent of f's result exists, so it never overlaps the forward pass. Without
/// differentiation it costs nothing: the value is f's own graph.
///
/// Tensor arguments are f's inputs; any other argument (a Params, a plain value) is passed as is.
/// f returns one Tensor. Works under jit, interpret, grad, jvp (through f's own graph) and vmap.
///
///   auto block = z::checkpoint([](z::Params p, z::Tensor h) { return z::nets::mlp(p, h, {512, 512}); });
///   h = block(p["block_0"], h);
template <class F>
auto checkpoint(F f, Loc loc = Loc::current()) {
  auto symbolic = [f, where = SourceLoc::from(loc)](const auto&... args) {
    std::vector<Tensor> inputs;
    (
        [&](const auto& a) {
          if constexpr (std::is_same_v<std::decay_t<decltype(a)>, Tensor>) inputs.push_back(a);
        }(args),
        ...);
    return detail::checkpointed(
        inputs,
        [&](const std::vector<Tensor>& stand_ins) -> Tensor {
          size_t next = 0;
          auto stand_in = [&](const auto& a) -> decltype(auto) {
            if constexpr (std::is_same_v<std::decay_t<decltype(a)>, Tensor>) return Tensor(stand_ins[next++]);
            else return (a);
          };
          // Braces evaluate left to right, so the stand-ins line up with the Tensor arguments.
          std::tuple<decltype(stand_in(args))...> called{stand_in(args)...};
          using Result = decltype(std::apply(f, called));
          static_assert(std::is_same_v<std::decay_t<Result>, Tensor>, "a checkpointed function returns one Tensor");
          return std::apply(f, called);
        },
        where);
  };
  return detail::symbolic_or_compiled(symbolic);
}

}  // namespace zephyr
