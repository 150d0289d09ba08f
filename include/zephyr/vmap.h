// vmap: a function written for one example, applied to a batch of them, built from the
// primitives' batching rules (no loop over the examples, as jax.vmap).
#pragma once

#include <fmt/format.h>

#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "zephyr/checks.h"
#include "zephyr/jit.h"
#include "zephyr/ops.h"
#include "zephyr/params.h"
#include "zephyr/tensor_tree.h"

namespace zephyr {

/// The graph transform under vmap: `outputs`, built from the per-example nodes `examples`, with
/// each of those replaced by the matching `batched` Tensor: the example's shape and dtype after a
/// leading batch axis of one common size. Each result has the batch leading; a result that does
/// not depend on the examples is broadcast to every example. Errors name vmap and the argument.
std::vector<Tensor> batch(const std::vector<Tensor>& outputs, const std::vector<Tensor>& examples,
                          const std::vector<Tensor>& batched);

/// Where an argument's examples lie: an axis (negative counts from the end), or `unbatched`.
using BatchAxis = std::optional<int64_t>;
/// An argument vmap does not map over: every example sees all of it (JAX's `None`).
inline constexpr std::nullopt_t unbatched = std::nullopt;

namespace detail {

// A function's result as a list of Tensors, and back (Tensor, vector, TensorTree, pair, tuple).
inline void flatten_into(const Tensor& t, std::vector<Tensor>& out) { out.push_back(t); }
inline void flatten_into(const std::vector<Tensor>& ts, std::vector<Tensor>& out) {
  out.insert(out.end(), ts.begin(), ts.end());
}
inline void flatten_into(const TensorTree& tree, std::vector<Tensor>& out) {
  for (const auto& [path, t] : tree) out.push_back(t);
}
template <class A, class B>
void flatten_into(const std::pair<A, B>& p, std::vector<Tensor>& out) {
  flatten_into(p.first, out);
  flatten_into(p.second, out);
}
template <class... T>
void flatten_into(const std::tuple<T...>& t, std::vector<Tensor>& out) {
  std::apply([&](const auto&... e) { (flatten_into(e, out), ...); }, t);
}

inline Tensor unflatten(const Tensor&, const std::vector<Tensor>& flat, size_t& next) { return flat[next++]; }
inline std::vector<Tensor> unflatten(const std::vector<Tensor>& like, const std::vector<Tensor>& flat, size_t& next) {
  std::vector<Tensor> out(flat.begin() + static_cast<std::ptrdiff_t>(next),
                          flat.begin() + static_cast<std::ptrdiff_t>(next + like.size()));
  next += like.size();
  return out;
}
inline TensorTree unflatten(const TensorTree& like, const std::vector<Tensor>& flat, size_t& next) {
  std::vector<TensorTree::Leaf> leaves;
  for (const auto& [path, t] : like) leaves.push_back({path, flat[next++]});
  return TensorTree(std::move(leaves));
}
template <class A, class B>
std::pair<A, B> unflatten(const std::pair<A, B>& like, const std::vector<Tensor>& flat, size_t& next) {
  return {unflatten(like.first, flat, next), unflatten(like.second, flat, next)};  // braces: in order
}
template <class... T>
std::tuple<T...> unflatten(const std::tuple<T...>& like, const std::vector<Tensor>& flat, size_t& next) {
  return std::apply([&](const auto&... e) { return std::tuple<T...>{unflatten(e, flat, next)...}; }, like);
}

/// One vmap call's batched arguments: each becomes a per-example placeholder for `f`, and the
/// pairs (placeholder, batch with its examples leading) are what `batch` substitutes.
class VmapArguments {
 public:
  explicit VmapArguments(SourceLoc where) : where_(std::move(where)) {}

  /// `leaf`: the path of x in a Params or TensorTree argument, for errors.
  Tensor example(const Tensor& x, const BatchAxis& axis, size_t index, const std::string& leaf = "");
  /// Every leaf mapped over the same axis (an ensemble's stacked params, per-example params).
  /// A Params argument's leaves are mapped as the model uses them.
  Params example(const Params& p, const BatchAxis& axis, size_t index);
  TensorTree example(const TensorTree& tree, const BatchAxis& axis, size_t index);
  template <class T>
  const T& example(const T& x, const BatchAxis& axis, size_t index) {  // a number, a string...
    if (axis) fail_at(where_, "vmap", fmt::format("argument {} is not a Tensor, Params or TensorTree: its in_axes entry "
                                                  "must be z::unbatched", index));
    return x;
  }

  std::vector<RuntimeCheck>& checks() { return checks_; }
  const std::vector<RuntimeCheck>& checks() const { return checks_; }
  const std::vector<Tensor>& examples() const { return examples_; }
  const std::vector<Tensor>& batched() const { return batched_; }
  const SourceLoc& where() const { return where_; }

 private:
  SourceLoc where_;
  std::vector<Tensor> examples_, batched_;
  std::vector<RuntimeCheck> checks_;
};

/// The batch axis of argument `index` of `count`: as given, else 0 for a Tensor and unbatched
/// for anything else (a Params tree, which is then shared by every example; a hyperparameter).
template <class T>
BatchAxis axis_of(const std::vector<BatchAxis>& in_axes, size_t index) {
  if (!in_axes.empty()) return in_axes[index];
  if constexpr (std::is_same_v<std::decay_t<T>, Tensor>) return 0;
  else return unbatched;
}

/// The batched results, each with its batch axis moved to `out_axis`; the run-time checks `f`
/// made are re-recorded over the whole batch.
std::vector<Tensor> batch_results(const std::vector<Tensor>& results, const VmapArguments& arguments,
                                  int64_t out_axis);

}  // namespace detail

/// `f` mapped over a batch, as jax.vmap: `z::vmap(f, in_axes, out_axis)(args...)` returns what
/// stacking `f(example)` over the examples along `out_axis` would, computed as one batched
/// graph. `in_axes` gives each argument's batch axis or z::unbatched (default: axis 0 for every
/// Tensor, unbatched for everything else); the batched arguments must agree on the batch size.
/// A Params (or ParamTree, or TensorTree) argument with an axis has every leaf mapped over it:
/// `z::vmap(model, {0, z::unbatched})(z::stack(members), x)` runs an ensemble as one graph.
/// `f` returns a Tensor, a vector of them, a TensorTree, or a pair or tuple of those. Tensors in
/// (inside jit, interpret or another transform), graph values out; Arrays and ParamTrees in, the
/// function is compiled on the first call and run.
///
///   auto per_example = z::vmap(z::grad(loss), {z::unbatched, 0, 0});  // params shared
template <class F>
auto vmap(F f, std::vector<BatchAxis> in_axes = {}, int64_t out_axis = 0, Loc loc = Loc::current()) {
  auto symbolic = [f, in_axes, out_axis, where = SourceLoc::from(loc)](const auto&... args) {
    if (!in_axes.empty() && in_axes.size() != sizeof...(args))
      fail_at(where, "vmap", fmt::format("in_axes has {} entries for {} arguments", in_axes.size(), sizeof...(args)));
    detail::VmapArguments arguments(where);
    auto result = [&]<size_t... I>(std::index_sequence<I...>) {
      detail::CheckScope per_example;  // f's run-time checks are on examples: batched below
      auto r = std::invoke(f, arguments.example(args, detail::axis_of<decltype(args)>(in_axes, I), I)...);
      arguments.checks() = std::move(per_example.checks());
      return r;
    }(std::index_sequence_for<decltype(args)...>{});
    std::vector<Tensor> flat;
    detail::flatten_into(result, flat);
    size_t next = 0;
    return detail::unflatten(result, detail::batch_results(flat, arguments, out_axis), next);
  };
  return detail::symbolic_or_compiled(symbolic);
}

}  // namespace zephyr
