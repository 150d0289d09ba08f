// Loops without unrolling, as jax.lax.scan and jax.lax.fori_loop: the body is traced once into a
// graph of its own and compiled as one scf.for, so a 256-step loop compiles as fast as a 16-step
// one. Both work under grad (the backward pass is a reverse scan over the saved carries), jvp,
// vmap, jit and interpret.
#pragma once

#include <functional>
#include <type_traits>
#include <utility>
#include <vector>

#include "zephyr/error.h"
#include "zephyr/tensor.h"

namespace zephyr {

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

/// A Scan node (lib/primitives/scan.cpp): `next` is the next carry, built from the Argument
/// nodes `variants` (the carry's, then one per `xs` for its step's slice). What else `next` reads
/// becomes the node's captured operands; values that do not change between steps are computed
/// once, before the loop. The node's value is every step's carry ([T, carry...]) when `stacked`,
/// else the last one.
Tensor scan_node(const Tensor& init, const std::vector<Tensor>& xs, const std::vector<Tensor>& variants,
                 const Tensor& next, bool reverse, bool stacked, const SourceLoc& where);

/// The carry each step of a scan started from, [T, carry...], given its stacked carries.
Tensor previous_carries(const Tensor& stacked, const Tensor& init, bool reverse);

/// lo, lo + 1, ..., hi - 1 as an i32 vector: fori_loop's steps (the error names a bound past i32).
Tensor loop_indices(int64_t lo, int64_t hi, const SourceLoc& where);

inline std::vector<Tensor> carry_parts(const Tensor& t) { return {t}; }
/// lo, lo + 1, ..., hi - 1 as an i32 vector: fori_loop's steps (the error names a bound past i32).
Tensor loop_indices(int64_t lo, int64_t hi, const SourceLoc& where);

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

}  // namespace zephyr
