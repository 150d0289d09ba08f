// z::scan, z::fori_loop, z::while_loop and z::cond: the user's functions traced once on stand-ins,
// as one region node each over a carry (or a result) packed into a single Tensor. A scan's
// outputs are not carried through the loop: one that is part of the carry is read from the
// stacked carries, any other is computed for every step at once afterwards (vmap of the step's
// output over the carries it started from).
#include <fmt/format.h>

#include <limits>
#include <unordered_set>

#include "../core/node_log.h"
#include "../primitives/region.h"
#include "zephyr/checks.h"
#include "zephyr/control_flow.h"
#include "zephyr/ops.h"
#include "zephyr/vmap.h"

namespace zephyr::detail {
namespace {

using primitives::pack;
using primitives::stand_in;

std::vector<Shape> shapes_of(const std::vector<Tensor>& ts) {
  std::vector<Shape> shapes;
  for (const Tensor& t : ts) shapes.push_back(t.shape());
  return shapes;
}
std::vector<Tensor> unpack_all(const Tensor& packed, const std::vector<Shape>& shapes, const Shape& lead = {}) {
  std::vector<Tensor> parts;
  for (size_t i = 0; i < shapes.size(); ++i) parts.push_back(primitives::unpack(packed, shapes, i, lead));
  return parts;
}

// Values that travel packed into one vector: defined, of one dtype.
void check_packable(const std::vector<Tensor>& values, const char* op, const char* what, const char* whats,
                    const SourceLoc& where) {
  if (values.empty()) fail_at(where, op, fmt::format("needs a {}: the vector of {} is empty", what, whats));
  for (size_t i = 0; i < values.size(); ++i) {
    if (!values[i].defined()) fail_at(where, op, fmt::format("{} {} is an empty Tensor", what, i));
    if (values[i].dtype() != values[0].dtype())
      fail_at(where, op, fmt::format("the {} must share one dtype (they travel as one vector): {} 0 is {}, {} {} is {}",
                                     whats, what, describe(values[0].dtype(), values[0].shape()), what, i,
                                     describe(values[i].dtype(), values[i].shape())));
  }
}

// `got` has the types of `want`, one for one.
void check_same_types(const std::vector<Tensor>& got, const std::vector<Tensor>& want, const char* op,
                      const std::string& what, const std::string& was, const std::string& rule, const SourceLoc& where) {
  if (got.size() != want.size())
    fail_at(where, op, fmt::format("{} {} values for {}", what, got.size(), want.size()));
  for (size_t i = 0; i < got.size(); ++i)
    if (!got[i].defined() || got[i].dtype() != want[i].dtype() || got[i].shape() != want[i].shape())
      fail_at(where, op, fmt::format("{} {} as {}, but {} {}: {}", what, i,
                                     got[i].defined() ? describe(got[i].dtype(), got[i].shape()) : "an empty Tensor",
                                     was, describe(want[i].dtype(), want[i].shape()), rule));
}

// Runs `f` with the run-time checks it makes caught: a check on a body's values would read values
// that exist only inside the loop or branch.
template <class F>
auto without_checks(const char* op, const SourceLoc& where, F f) {
  CheckScope checks;
  auto result = f();
  if (!checks.checks().empty())
    fail_at(where, op, "the body makes a run-time check (an index or shape check on its values), which a loop or "
                       "branch cannot hold yet: compute the checked values outside it");
  return result;
}

}  // namespace

std::pair<std::vector<Tensor>, Tensor> scan(const ScanStep& step, const std::vector<Tensor>& init, const Tensor& xs,
                                            bool reverse, const SourceLoc& where) {
  check_packable(init, "scan", "carry", "carries", where);
  if (!xs.defined()) fail_at(where, "scan", "xs is an empty Tensor");
  if (xs.shape().empty() || xs.shape()[0] == 0)
    fail_at(where, "scan", fmt::format("runs one step per slice of xs along axis 0, but xs is {}",
                                       describe(xs.dtype(), xs.shape())));
  const int64_t T = xs.shape()[0];
  const std::vector<Shape> shapes = shapes_of(init);
  const Tensor packed_init = pack(init);
  const Tensor carry = stand_in(packed_init.dtype(), packed_init.shape(), "scan/carry", where);
  const Tensor x = stand_in(xs.dtype(), Shape(xs.shape().begin() + 1, xs.shape().end()), "scan/x", where);
  const auto [next, y] = without_checks("scan", where, [&] { return step(unpack_all(carry, shapes), x); });
  check_same_types(next, init, "scan", "the step returns carry", "it came in as",
                   "a carry keeps its shape and dtype from step to step", where);

  const Tensor stacked = primitives::scan_node(packed_init, {xs}, {carry, x}, pack(next), reverse, true, where);
  const Tensor last = primitives::row(stacked, reverse ? 0 : T - 1);
  if (!y.defined()) return {unpack_all(last, shapes), Tensor()};
  for (size_t i = 0; i < next.size(); ++i)
    if (y.node() == next[i].node()) return {unpack_all(last, shapes), primitives::unpack(stacked, shapes, i, {T})};
  const Tensor entry = primitives::previous_carries(stacked, packed_init, reverse);
  return {unpack_all(last, shapes), batch({y}, {carry, x}, {entry, xs})[0]};
}

Tensor loop_indices(int64_t lo, int64_t hi, const SourceLoc& where) {
  constexpr int64_t lowest = std::numeric_limits<int32_t>::min(), highest = std::numeric_limits<int32_t>::max();
  if (lo < lowest || hi - 1 > highest)
    fail_at(where, "fori_loop", fmt::format("counts from {} to {}, past the i32 range of its index", lo, hi));
  return iota({hi - lo}, 0, DType::i32) + scalar(static_cast<double>(lo), DType::i32);
}

std::vector<Tensor> while_loop(const std::function<Tensor(const std::vector<Tensor>&)>& cond,
                               const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& body,
                               const std::vector<Tensor>& init, const SourceLoc& where) {
  check_packable(init, "while_loop", "carry", "carries", where);
  const std::vector<Shape> shapes = shapes_of(init);
  const Tensor packed_init = pack(init);
  const Tensor carry = stand_in(packed_init.dtype(), packed_init.shape(), "while/carry", where);
  const std::vector<Tensor> parts = unpack_all(carry, shapes);
  const auto [go_on, next] = without_checks("while_loop", where, [&] { return std::pair{cond(parts), body(parts)}; });
  if (!go_on.defined() || go_on.dtype() != DType::bool_ || !go_on.shape().empty())
    fail_at(where, "while_loop", fmt::format("the condition must return a bool scalar, got {}",
                                             go_on.defined() ? describe(go_on.dtype(), go_on.shape()) : "an empty Tensor"));
  check_same_types(next, init, "while_loop", "the body returns carry", "it came in as",
                   "a carry keeps its shape and dtype from step to step", where);
  return unpack_all(primitives::while_node(packed_init, carry, go_on, pack(next), where), shapes);
}

std::vector<Tensor> cond(const Tensor& pred, const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& on_true,
                         const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& on_false,
                         const std::vector<Tensor>& operands, const SourceLoc& where) {
  if (!pred.defined() || pred.dtype() != DType::bool_ || !pred.shape().empty())
    fail_at(where, "cond", fmt::format("takes a bool scalar predicate, got {}",
                                       pred.defined() ? describe(pred.dtype(), pred.shape()) : "an empty Tensor"));
  std::vector<Tensor> stand_ins;
  for (size_t i = 0; i < operands.size(); ++i) {
    if (!operands[i].defined()) fail_at(where, "cond", fmt::format("operand {} is an empty Tensor", i));
    stand_ins.push_back(stand_in(operands[i].dtype(), operands[i].shape(), fmt::format("cond/operand{}", i), where));
  }
  // The nodes each branch makes are its own, so nothing of a branch runs unless it is taken.
  std::unordered_set<const Node*> made;
  std::vector<Tensor> if_true, if_false;
  Tensor packed_true, packed_false;
  {
    NodeLog log;
    std::tie(if_true, if_false) = without_checks("cond", where, [&] { return std::pair{on_true(stand_ins), on_false(stand_ins)}; });
    check_packable(if_true, "cond", "result", "results", where);
    check_same_types(if_false, if_true, "cond", "the false branch returns result", "the true branch returns",
                     "both branches must return the same shapes and dtypes", where);
    packed_true = pack(if_true);
    packed_false = pack(if_false);
    for (const NodePtr& n : log.nodes()) made.insert(n.get());
  }
  const Tensor out = primitives::cond_node(pred, stand_ins, operands, packed_true, packed_false, where, &made);
  return unpack_all(out, shapes_of(if_true));
}

}  // namespace zephyr::detail
