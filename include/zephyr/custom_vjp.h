// custom_vjp: a function with a gradient of the user's own, as jax.custom_vjp.
#pragma once

#include <functional>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "zephyr/jit.h"
#include "zephyr/tensor.h"

namespace zephyr {

/// The user's gradient, held by a custom_vjp node: the cotangents of the function's inputs, given
/// the inputs and the cotangent of its result (an undefined Tensor: no gradient for that input).
struct CustomRule {
  /// The rule: one cotangent per input (undefined: none), given the inputs and the result's cotangent.
  std::function<std::vector<Tensor>(const std::vector<Tensor>& inputs, const Tensor& cotangent)> vjp;
  SourceLoc where;  ///< the user's custom_vjp call, which its errors name
  /// Forward mode: refused for a custom_vjp (as in JAX); for a checkpoint, whose value is f's own
  /// graph computing the same thing, the tangent is that graph's.
  bool jvp_through_value = false;
};

namespace detail {

/// `value`, the function's result, as a node whose gradient with respect to `inputs` is `rule`'s.
Tensor with_custom_vjp(const std::vector<Tensor>& inputs, const Tensor& value, std::shared_ptr<const CustomRule> rule);

// The backward function's cotangents as a list: one Tensor, a vector, or a tuple of Tensors.
template <class T>
std::vector<Tensor> cotangent_list(const T& cotangents) {
  if constexpr (std::is_same_v<T, Tensor>) return {cotangents};
  else if constexpr (std::is_same_v<T, std::vector<Tensor>>) return cotangents;
  else return std::apply([](const auto&... c) { return std::vector<Tensor>{Tensor(c)...}; }, cotangents);
}

}  // namespace detail

/// `f` with a gradient of the user's own, as jax.custom_vjp. `f(xs...)` gives the value;
/// under differentiation `fwd(xs...)` returns `{value, residuals}` (residuals: anything the
/// backward pass needs, such as a tuple of Tensors) and `bwd(residuals, cotangent)` returns one
/// cotangent per input (a Tensor, a tuple or a vector; an empty Tensor for none). f's own graph
/// is never differentiated. Tensors in, Tensor out (inside jit, interpret, grad or vmap); on
/// Arrays it is compiled. Forward mode (jvp, hvp) through it is an error, as in JAX.
///
///   // A straight-through estimator: rounds forward, passes the gradient inside [-1, 1].
///   auto ste = z::custom_vjp([](z::Tensor x) { return round(x); },
///                            [](z::Tensor x) { return std::pair{round(x), x}; },
///                            [](const z::Tensor& x, z::Tensor g) { return z::where(z::abs(x) <= 1.0, g, 0 * g); });
template <class F, class Fwd, class Bwd>
auto custom_vjp(F f, Fwd fwd, Bwd bwd, Loc loc = Loc::current()) {
  auto symbolic = [f, fwd, bwd, where = SourceLoc::from(loc)](const auto&... xs) {
    static_assert((std::is_same_v<std::decay_t<decltype(xs)>, Tensor> && ...), "a custom_vjp function takes Tensors");
    constexpr size_t count = sizeof...(xs);
    auto rule = std::make_shared<CustomRule>();
    rule->where = where;
    rule->vjp = [fwd, bwd](const std::vector<Tensor>& in, const Tensor& cotangent) {
      auto forward = [&]<size_t... I>(std::index_sequence<I...>) {
        return std::invoke(fwd, in[I]...);
      }(std::make_index_sequence<count>{});
      return detail::cotangent_list(std::invoke(bwd, forward.second, cotangent));
    };
    return detail::with_custom_vjp({xs...}, std::invoke(f, xs...), std::move(rule));
  };
  return detail::symbolic_or_compiled(symbolic);
}

}  // namespace zephyr
