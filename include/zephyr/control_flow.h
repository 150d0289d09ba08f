// Control flow without unrolling, as jax.lax's scan, fori_loop, while_loop and cond: each body is
// traced once into a graph of its own and compiled as one scf.for, scf.while or scf.if, so a
// 256-step loop compiles as fast as a 16-step one. All work under jvp, vmap, jit and interpret;
// scan, fori_loop and cond under grad too (a scan's backward pass is a reverse scan over the saved
// carries), while while_loop is forward-only, as in JAX.
#pragma once

#include <functional>
#include <type_traits>
#include <utility>
#include <vector>

#include "zephyr/error.h"
#include "zephyr/tensor.h"

namespace zephyr {

/// Options of scan.
struct ScanOptions {
  /// Steps run from the last slice of xs to the first (ys still line up with xs), as
  /// jax.lax.scan(reverse=True).
  bool reverse = false;
};

namespace detail {

/// One step of a scan on the carry's parts and one slice of xs: the next carry's parts and the
/// step's output (an undefined Tensor for none).
using ScanStep = std::function<std::pair<std::vector<Tensor>, Tensor>(const std::vector<Tensor>&, const Tensor&)>;

/// z::scan on a carry of one or more Tensors: the last carry and the stacked outputs.
std::pair<std::vector<Tensor>, Tensor> scan(const ScanStep& step, const std::vector<Tensor>& init, const Tensor& xs,
                                            bool reverse, const SourceLoc& where);

/// z::while_loop and z::cond on lists of Tensors.
std::vector<Tensor> while_loop(const std::function<Tensor(const std::vector<Tensor>&)>& cond,
                               const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& body,
                               const std::vector<Tensor>& init, const SourceLoc& where);
std::vector<Tensor> cond(const Tensor& pred, const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& on_true,
                         const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& on_false,
                         const std::vector<Tensor>& operands, const SourceLoc& where);

/// lo, lo + 1, ..., hi - 1 as an i32 vector: fori_loop's steps (the error names a bound past i32).
Tensor loop_indices(int64_t lo, int64_t hi, const SourceLoc& where);

// A carry as its parts, and back.
inline std::vector<Tensor> carry_parts(const Tensor& t) { return {t}; }
inline std::vector<Tensor> carry_parts(const std::vector<Tensor>& ts) { return ts; }
template <class Carry>
Carry carry_from(const std::vector<Tensor>& parts) {
  if constexpr (std::is_same_v<Carry, Tensor>) return parts.at(0);
  else return parts;
}

}  // namespace detail

/// Runs `f(carry, x) -> {next carry, y}` once per slice x of `xs` along axis 0, and returns the
/// last carry and every step's y stacked along a new axis 0 (jax.lax.scan). The carry is a
/// Tensor or a std::vector<Tensor> of one dtype, and keeps its shapes from step to step; a step
/// with no output returns `{carry, z::Tensor()}` and gets an undefined ys. Parameters and
/// Tensors that f reads from outside are captured: their gradients flow too.
///
///   auto [h, hs] = z::scan([&](z::Tensor h, z::Tensor x) {
///     z::Tensor next = z::tanh(z::matmul(x, w_ih) + z::matmul(h, w_hh));
///     return std::pair{next, next};
///   }, h0, inputs);  // inputs [T, batch, features] -> hs [T, batch, hidden]
template <class Carry, class F>
std::pair<Carry, Tensor> scan(F f, const Carry& init, const Tensor& xs, ScanOptions options = {},
                              Loc loc = Loc::current()) {
  static_assert(std::is_same_v<Carry, Tensor> || std::is_same_v<Carry, std::vector<Tensor>>,
                "z::scan: the carry must be a z::Tensor or a std::vector<z::Tensor>");
  static_assert(std::is_invocable_v<F, const Carry&, const Tensor&>,
                "z::scan: the step must be callable as f(carry, x), with the carry's type and a z::Tensor");
  detail::ScanStep step = [&f](const std::vector<Tensor>& carry, const Tensor& x) {
    auto [next, y] = std::invoke(f, detail::carry_from<Carry>(carry), x);
    static_assert(std::is_same_v<std::decay_t<decltype(next)>, Carry>,
                  "z::scan: the step must return {next carry, y} with the carry's own type");
    return std::pair<std::vector<Tensor>, Tensor>{detail::carry_parts(next), Tensor(y)};
  };
  auto [last, ys] = detail::scan(step, detail::carry_parts(init), xs, options.reverse, SourceLoc::from(loc));
  return {detail::carry_from<Carry>(last), ys};
}

/// `body(i, carry) -> carry` for i = lo, lo + 1, ..., hi - 1 (jax.lax.fori_loop), as one loop: i
/// is an i32 scalar Tensor. Returns `init` when hi <= lo.
template <class Carry, class F>
Carry fori_loop(int64_t lo, int64_t hi, F body, const Carry& init, Loc loc = Loc::current()) {
  static_assert(std::is_invocable_v<F, const Tensor&, const Carry&>,
                "z::fori_loop: the body must be callable as body(i, carry), with a z::Tensor and the carry's type");
  if (hi <= lo) return init;
  const SourceLoc where = SourceLoc::from(loc);
  detail::ScanStep step = [&body](const std::vector<Tensor>& carry, const Tensor& i) {
    Carry next = std::invoke(body, i, detail::carry_from<Carry>(carry));
    return std::pair<std::vector<Tensor>, Tensor>{detail::carry_parts(next), Tensor()};
  };
  return detail::carry_from<Carry>(detail::scan(step, detail::carry_parts(init), detail::loop_indices(lo, hi, where),
                                                false, where).first);
}

/// Runs `body(carry) -> carry` for as long as `cond(carry)` (a bool scalar Tensor) holds, and
/// returns the last carry (jax.lax.while_loop): one scf.while, its number of steps decided as it
/// runs. Forward-only: under grad it is an error (use scan or fori_loop, whose length is fixed);
/// jvp and vmap pass through it (under vmap, examples that are done keep their carry while the
/// others go on).
template <class Carry, class C, class B>
Carry while_loop(C cond, B body, const Carry& init, Loc loc = Loc::current()) {
  static_assert(std::is_same_v<Carry, Tensor> || std::is_same_v<Carry, std::vector<Tensor>>,
                "z::while_loop: the carry must be a z::Tensor or a std::vector<z::Tensor>");
  static_assert(std::is_invocable_r_v<Tensor, C, const Carry&>,
                "z::while_loop: the condition must be callable as cond(carry) and return a z::Tensor (a bool scalar)");
  static_assert(std::is_same_v<std::decay_t<std::invoke_result_t<B, const Carry&>>, Carry>,
                "z::while_loop: the body must be callable as body(carry) and return the carry's own type");
  auto parts = detail::while_loop(
      [&cond](const std::vector<Tensor>& c) { return Tensor(std::invoke(cond, detail::carry_from<Carry>(c))); },
      [&body](const std::vector<Tensor>& c) { return detail::carry_parts(std::invoke(body, detail::carry_from<Carry>(c))); },
      detail::carry_parts(init), SourceLoc::from(loc));
  return detail::carry_from<Carry>(parts);
}

/// `true_fn(operands...)` where the bool scalar `pred` holds, else `false_fn(operands...)`
/// (jax.lax.cond): one scf.if, so only the branch taken runs. Both branches return the same type
/// (a Tensor, or a std::vector<Tensor> of one dtype) and shapes; values they read from outside
/// need not be passed as operands. Differentiable in every operand and captured value; under
/// vmap with a batched `pred`, both branches run and each example takes its own (as in JAX).
///
///   z::Tensor y = z::cond(z::greater(norm, z::scalar(1.0)), [&] { return x / norm; }, [&] { return x; });
template <class T, class F, class... Operands>
auto cond(Operand pred, T true_fn, F false_fn, const Operands&... operands) {
  static_assert((std::is_same_v<Operands, Tensor> && ...),
                "z::cond: the operands must be z::Tensors (values the branches read from outside need not be passed)");
  static_assert(std::is_invocable_v<T, const Operands&...> && std::is_invocable_v<F, const Operands&...>,
                "z::cond: both branches must be callable with the operands");
  using R = std::decay_t<std::invoke_result_t<T, const Operands&...>>;
  static_assert(std::is_same_v<R, Tensor> || std::is_same_v<R, std::vector<Tensor>>,
                "z::cond: a branch must return a z::Tensor or a std::vector<z::Tensor>");
  static_assert(std::is_same_v<R, std::decay_t<std::invoke_result_t<F, const Operands&...>>>,
                "z::cond: both branches must return the same type");
  auto branch = [](auto& fn) {
    return [&fn](const std::vector<Tensor>& ops) {
      return [&]<size_t... I>(std::index_sequence<I...>) {
        return detail::carry_parts(std::invoke(fn, ops[I]...));
      }(std::index_sequence_for<Operands...>{});
    };
  };
  return detail::carry_from<R>(detail::cond(pred.tensor, branch(true_fn), branch(false_fn), {operands...}, pred.loc));
}

}  // namespace zephyr
