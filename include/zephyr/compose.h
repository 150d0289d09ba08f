// Composition: holes for partial application (zephyr's `_` and `flexible`), chain, skip, and
// threading parameters or keys through a list of layers.
#pragma once

#include <array>
#include <functional>
#include <tuple>
#include <type_traits>
#include <vector>

#include "zephyr/params.h"
#include "zephyr/tensor.h"

namespace zephyr {

/// A hole in a call: `nets::mlp(p["mlp"], z::_, {256, 256})` is a Tensor(Tensor) callable.
struct Hole {};
inline constexpr Hole _{};

/// A layer with everything but its input bound.
using Layer = std::function<Tensor(const Tensor&)>;

namespace detail {
template <class A> constexpr bool is_hole = std::is_same_v<std::decay_t<A>, Hole>;

// How many of the first I arguments are holes: which filled value argument I takes.
template <size_t I, class... A>
constexpr size_t holes_before() {
  size_t n = 0, i = 0;
  ((n += (i++ < I && is_hole<A>) ? 1 : 0), ...);
  return n;
}

template <size_t I, class... A, class Args, class Filled>
decltype(auto) pick(Args& args, Filled& filled) {
  using Arg = std::tuple_element_t<I, std::tuple<A...>>;
  if constexpr (is_hole<Arg>) return Tensor(filled[holes_before<I, A...>()]);
  else return (std::get<I>(args));
}

template <class F, class... A, size_t... I>
auto partial(F f, std::index_sequence<I...>, A... a) {
  constexpr size_t holes = (size_t{is_hole<A>} + ... + 0);
  return [f, args = std::tuple<A...>(std::move(a)...)](const auto&... xs) mutable {
    static_assert(sizeof...(xs) == holes, "pass one Tensor per hole");
    std::array<Tensor, holes> filled{Tensor(xs)...};
    return f(pick<I, A...>(args, filled)...);
  };
}
}  // namespace detail

/// `f` made hole-aware: called with no hole it calls f; with holes it returns a callable that
/// takes one Tensor per hole, in order. User functions opt in with one line:
///   inline constexpr auto encoder = z::flexible([](z::Params p, z::Tensor x, int64_t dim) {...});
/// (braced lists do not deduce through the wrapper: write std::vector<int64_t>{...}).
template <class F>
struct Flexible {
  F f;  ///< the wrapped function
  /// f(a...), or, when some of `a` are holes, a callable taking one Tensor per hole.
  template <class... A>
  constexpr auto operator()(A&&... a) const {
    if constexpr ((detail::is_hole<A> || ...))
      return detail::partial(f, std::index_sequence_for<A...>{}, std::decay_t<A>(std::forward<A>(a))...);
    else
      return f(std::forward<A>(a)...);
  }
};
template <class F>
constexpr Flexible<F> flexible(F f) { return {std::move(f)}; }

/// An activation (z::relu, z::gelu...) as a layer.
inline Layer to_layer(Tensor (*activation)(const Tensor&, Loc)) {
  return [activation](const Tensor& x) { return activation(x, Loc::current()); };
}
inline Layer to_layer(Layer f) { return f; }

/// x -> layers[n-1](...layers[0](x)). Activations can be passed by name: chain(f, z::relu, g).
Layer chain(std::vector<Layer> layers);
template <class... F>
Layer chain(F... layers) { return chain(std::vector<Layer>{to_layer(std::move(layers))...}); }

/// x -> x + f(x).
Layer skip(Layer f);

/// Layers that still take their parameters: thread_params gives layer i the sub-tree p[i].
using ParamLayer = std::function<Tensor(Params, const Tensor&)>;
std::vector<Layer> thread_params(const std::vector<ParamLayer>& layers, const Params& p);

/// Layers that take a key (dropout, say): thread_key gives each its own key from random::split.
using KeyLayer = std::function<Tensor(const Tensor& key, const Tensor&)>;
std::vector<Layer> thread_key(const std::vector<KeyLayer>& layers, const Tensor& key);

}  // namespace zephyr
