// trace: run a model once on symbolic inputs and collect its parameter templates.
#pragma once

#include <functional>
#include <utility>

#include "zephyr/params.h"

namespace zephyr {
namespace detail {

/// An example Array becomes a symbolic input of its shape; other arguments pass through.
inline Tensor symbolic_input(const Array& example, const std::string& name) {
  Attrs attrs;
  attrs.name = name;
  return Tensor(make_node(OpKind::Argument, example.dtype(), example.shape(), {}, std::move(attrs), {}));
}
template <class T>
decltype(auto) as_symbolic(T&& value, size_t index) {
  if constexpr (std::is_same_v<std::decay_t<T>, Array>) return symbolic_input(value, "arg" + std::to_string(index));
  else return std::forward<T>(value);
}

}  // namespace detail

/// Runs `f(params, args...)` once, Arrays replaced by symbolic Tensors of their shape, and
/// returns every declared parameter, initialized from `key` and the leaf's path.
template <class F, class... Args>
ParamTree trace(F&& f, random::Key key, Args&&... args) {
  auto scope = detail::ParamScope::tracing();
  [&]<size_t... I>(std::index_sequence<I...>) {
    // Argument 0 is the params; inputs are named by their position in the call.
    std::invoke(f, Params(scope, ""), detail::as_symbolic(std::forward<Args>(args), I + 1)...);
  }(std::index_sequence_for<Args...>{});
  return scope->initialize(key);
}

}  // namespace zephyr
