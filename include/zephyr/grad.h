// grad and value_and_grad: the gradient of a model function is just another function.
#pragma once

#include <fmt/format.h>

#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "zephyr/autodiff.h"
#include "zephyr/jit.h"
#include "zephyr/ops.h"
#include "zephyr/tensor_tree.h"

namespace zephyr {
namespace detail {

// The differentiated argument as graph values: a Params becomes its whole tree of leaves.
inline TensorTree primal(const Params& p) { return TensorTree(p); }
inline Tensor primal(const Tensor& t) { return t; }

inline std::vector<Tensor> flat(const TensorTree& tree) {
  std::vector<Tensor> out;
  for (const auto& [path, t] : tree) out.push_back(t);
  return out;
}
inline std::vector<Tensor> flat(const Tensor& t) { return {t}; }

inline TensorTree rebuild(const TensorTree& like, const std::vector<Tensor>& grads) {
  std::vector<TensorTree::Leaf> out;
  for (size_t i = 0; i < like.size(); ++i) out.push_back({like.leaves()[i].first, grads[i]});
  return TensorTree(std::move(out));
}
inline Tensor rebuild(const Tensor&, const std::vector<Tensor>& grads) { return grads[0]; }

template <size_t I, class... Args>
decltype(auto) nth(Args&&... args) {
  return std::get<I>(std::forward_as_tuple(std::forward<Args>(args)...));
}

// Gradients exist for floats only: differentiating an i32 or bool argument is a mistake (JAX
// refuses it too), not a request for zeros.
inline void check_differentiable(const TensorTree& wrt, const SourceLoc& where, size_t arg) {
  for (const auto& [path, t] : wrt)
    if (!is_float(t.dtype()))
      fail_at(where, "grad", fmt::format("argument {} has the {} leaf '{}': only float leaves have gradients",
                                         arg, describe(t.dtype(), t.shape()), path));
}
inline void check_differentiable(const Tensor& wrt, const SourceLoc& where, size_t arg) {
  if (!is_float(wrt.dtype()))
    fail_at(where, "grad", fmt::format("argument {} is {}: only float values have gradients", arg,
                                       describe(wrt.dtype(), wrt.shape())));
}

/// The gradient of the scalar `value` with respect to `wrt`, in wrt's structure. `where` is the
/// user's value_and_grad or grad call, which every error here names.
template <class Wrt>
Wrt gradient(const Tensor& value, const Wrt& wrt, const SourceLoc& where) {
  if (!value.defined()) fail_at(where, "grad", "the function returned an empty Tensor");
  const std::string computed = value.node()->loc.str();
  const std::string at = computed.empty() ? "" : fmt::format(" (computed at {})", computed);
  if (value.ndim() != 0)
    fail_at(where, "grad", fmt::format("the function must return a scalar, got {}{}",
                                       describe(value.dtype(), value.shape()), at));
  if (!is_float(value.dtype()))
    fail_at(where, "grad", fmt::format("the function must return a float scalar, got {}{}", name(value.dtype()), at));
  return rebuild(wrt, vjp(value, full({}, 1.0, value.dtype()), flat(wrt)));
}

template <class T>
struct is_pair : std::false_type {};
template <class A, class B>
struct is_pair<std::pair<A, B>> : std::true_type {};
template <class T>
struct is_tuple : std::false_type {};
template <class... T>
struct is_tuple<std::tuple<T...>> : std::true_type {};

/// value_and_grad over symbolic arguments (inside jit or another transformation).
template <size_t Arg, class F, class... Args>
auto symbolic_value_and_grad(const F& f, const SourceLoc& where, const Args&... args) {
  const auto& x = nth<Arg>(args...);
  auto wrt = primal(x);  // before f runs, so unused leaves are still part of the tree
  check_differentiable(wrt, where, Arg);
  using R = std::decay_t<std::invoke_result_t<const F&, const Args&...>>;
  if constexpr (is_pair<R>::value || is_tuple<R>::value) {
    static_assert(always_false<R>, "z::value_and_grad / z::grad: the loss returns a pair or tuple; for {loss, aux} "
                                   "write z::value_and_grad(f, z::has_aux), else return the scalar loss Tensor");
    return std::pair{Tensor(), wrt};  // a well-typed result, so the message above is the only one
  } else if constexpr (!std::is_convertible_v<R, Tensor>) {
    static_assert(always_false<R>, "z::value_and_grad / z::grad: the loss must return one scalar Tensor");
    return std::pair{Tensor(), wrt};
  } else {
    Tensor value = std::invoke(f, args...);
    return std::pair{value, gradient(value, wrt, where)};
  }
}


}  // namespace detail

/// The value of `f` and its gradient with respect to argument `Arg` (default: the params).
/// Inside jit (Params/Tensor arguments) it builds graph values; on ParamTree/Array arguments it
/// compiles and runs (cached by signature), returning {Array, ParamTree} or {Array, Array}.
/// Errors (a loss that is not a float scalar, an integer argument) name the line of this call.
template <size_t Arg = 0, class F>
auto value_and_grad(F f, Loc loc = Loc::current()) {
  auto symbolic = [f, where = SourceLoc::from(loc)](const auto&... a) {
    return detail::symbolic_value_and_grad<Arg>(f, where, a...);
  };
  return detail::symbolic_or_compiled(symbolic);
}

/// The gradient of `f` with respect to argument `Arg`: same structure and paths as that argument.
template <size_t Arg = 0, class F>
auto grad(F f, Loc loc = Loc::current()) {
  return [vg = value_and_grad<Arg>(std::move(f), loc)](const auto&... args) { return vg(args...).second; };
}

/// Tag for value_and_grad and grad (jax's has_aux): the function returns `std::pair{loss, aux}`,
/// and `aux` (any result jit can return: metrics, logits, a new batch-norm state) comes out
/// beside the gradient instead of being computed a second time.
struct HasAux {};
inline constexpr HasAux has_aux{};

/// `auto [loss, aux, grads] = z::value_and_grad(f, z::has_aux)(params, x, y);`
template <size_t Arg = 0, class F>
auto value_and_grad(F f, HasAux, Loc loc = Loc::current()) {
  auto symbolic = [f, where = SourceLoc::from(loc)](const auto&... a) {
    const auto& x = detail::nth<Arg>(a...);
    auto wrt = detail::primal(x);
    detail::check_differentiable(wrt, where, Arg);
    auto out = std::invoke(f, a...);
    static_assert(detail::is_pair<decltype(out)>::value,
                  "with z::has_aux, the function returns std::pair{loss, aux}: a scalar Tensor and what to carry out");
    auto grads = detail::gradient(Tensor(out.first), wrt, where);
    return std::tuple{Tensor(out.first), out.second, grads};
  };
  return detail::symbolic_or_compiled(symbolic);
}

/// `auto [grads, aux] = z::grad(f, z::has_aux)(params, x, y);`
template <size_t Arg = 0, class F>
auto grad(F f, HasAux, Loc loc = Loc::current()) {
  return [vg = value_and_grad<Arg>(std::move(f), has_aux, loc)](const auto&... args) {
    auto [value, aux, grads] = vg(args...);
    return std::pair{grads, aux};
  };
}

namespace detail {

// f(primals...) and its tangent, for the first half of `all` as primals and the second half as
// tangents.
template <class F, size_t... I>
std::tuple<Tensor, Tensor> symbolic_jvp(const F& f, const SourceLoc& where, const std::vector<Tensor>& all,
                                        std::index_sequence<I...>) {
  constexpr size_t n = sizeof...(I);
  std::vector<Tensor> primals(all.begin(), all.begin() + n), tangents(all.begin() + n, all.end());
  for (size_t i = 0; i < n; ++i)
    if (primals[i].shape() != tangents[i].shape() || primals[i].dtype() != tangents[i].dtype())
      fail_at(where, "jvp", fmt::format("tangent {} is {} but its primal is {}", i,
                                        describe(tangents[i].dtype(), tangents[i].shape()),
                                        describe(primals[i].dtype(), primals[i].shape())));
  Tensor y = std::invoke(f, primals[I]...);
  if (!y.defined()) fail_at(where, "jvp", "the function returned an empty Tensor");
  return {y, jvp({y}, primals, tangents)[0]};
}

}  // namespace detail

/// Forward mode, as jax.jvp: `{f(primals...), the derivative of f at primals in the direction
/// tangents...}`, with one tangent per primal of its shape and dtype. `f` takes Tensors and
/// returns one Tensor. On Tensors (inside jit or interpret) it builds graph values; on Arrays it
/// compiles f and its tangent together and returns Arrays.
///
///   auto [y, dy] = z::jvp(f, std::tuple{x}, std::tuple{v});
template <class F, class... P>
auto jvp(F f, const std::tuple<P...>& primals, const std::tuple<P...>& tangents, Loc loc = Loc::current()) {
  static_assert((std::is_same_v<P, Tensor> && ...) || (std::is_same_v<P, Array> && ...),
                "z::jvp takes tuples of Tensors (symbolic) or of Arrays (compiled)");
  const SourceLoc where = SourceLoc::from(loc);
  auto both = [f, where](const auto&... xs) {
    return detail::symbolic_jvp(f, where, std::vector<Tensor>{xs...}, std::make_index_sequence<sizeof...(P)>{});
  };
  return std::apply([&](const auto&... all) {
    if constexpr ((std::is_same_v<P, Tensor> && ...)) return both(all...);
    else return jit(both)(all...);
  }, std::tuple_cat(primals, tangents));
}

/// Hessian-vector product of a scalar function of one Tensor, forward over reverse (the JVP of
/// its gradient): `z::hvp(f)(x, v)` is H(x)·v, of x's shape. Tensors in, Tensor out (inside jit
/// or interpret); Arrays in, Array out (compiled).
template <class F>
auto hvp(F f, Loc loc = Loc::current()) {
  return [f, loc](const auto& x, const auto& v) {
    auto gradient = [f, loc](const Tensor& t) { return grad(f, loc)(t); };
    return std::get<1>(jvp(gradient, std::tuple{x}, std::tuple{v}, loc));
  };
}

/// The Hessian of a scalar function of one Tensor x, of shape x.shape ++ x.shape: one
/// Hessian-vector product per element of x, so for small inputs. Tensor or Array, as hvp.
template <class F>
auto hessian(F f, Loc loc = Loc::current()) {
  auto symbolic = [f, loc](const Tensor& x) {
    const int64_t n = numel(x.shape());
    std::vector<Tensor> rows;
    for (int64_t i = 0; i < n; ++i) {
      Tensor basis = cast(equal(reshape(iota({n}), x.shape()), scalar(static_cast<double>(i), DType::i32)), x.dtype());
      rows.push_back(reshape(hvp(f, loc)(x, basis), {1, n}));
    }
    Shape shape = x.shape();
    shape.insert(shape.end(), x.shape().begin(), x.shape().end());
    return reshape(concat(rows, 0), shape);
  };
  return [symbolic](const auto& x) {
    if constexpr (std::is_same_v<std::decay_t<decltype(x)>, Tensor>) return symbolic(x);
    else return jit(symbolic)(x);
  };
}

}  // namespace zephyr
