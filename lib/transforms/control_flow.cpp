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

// Runs `f` with the run-time checks it makes caught: they read values that exist only inside the
// loop or branch, so each caller carries them out of its region in its own way.
template <class F>
auto with_checks(F f) {
  CheckScope checks;
  auto result = f();
  return std::pair{std::move(result), std::move(checks.checks())};
}

// A while_loop's condition runs once more than its body, on the last carry, where nothing
// carries a failure count out: its checks are refused.
template <class F>
auto without_checks(const char* op, const SourceLoc& where, F f) {
  auto [result, checks] = with_checks(f);
  if (!checks.empty())
    fail_at(where, op, "the condition makes a run-time check (an index or shape check on its values), which it "
                       "cannot carry out of the loop: move the checked op into the body");
  return result;
}

// A check's failure count, carried out of a region in the region's dtype: exactly where that
// dtype holds counts, else as 0 or 1 (the message then says "at least").
bool holds_counts(DType dtype) {
  return dtype == DType::f32 || dtype == DType::f64 || dtype == DType::i32 || dtype == DType::i64;
}
Tensor count_as(const Tensor& failures, DType dtype) {
  if (holds_counts(dtype)) return cast(failures, dtype);
  return cast(greater(failures, scalar(0, DType::i32)), dtype);
}
Tensor count_from(const Tensor& carried) { return cast(carried, DType::i32); }

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
  const auto [traced, checks] = with_checks([&] { return step(unpack_all(carry, shapes), x); });
  const auto& [next, y] = traced;
  check_same_types(next, init, "scan", "the step returns carry", "it came in as",
                   "a carry keeps its shape and dtype from step to step", where);

  const Tensor stacked = primitives::scan_node(packed_init, {xs}, {carry, x}, pack(next), reverse, true, where);
  const Tensor last = primitives::row(stacked, reverse ? 0 : T - 1);
  if (!checks.empty()) {
    // Every step's checks at once, after the loop, from the carries the steps started from.
    std::vector<Tensor> failures;
    for (const RuntimeCheck& c : checks) failures.push_back(c.failures);
    const Tensor entry = primitives::previous_carries(stacked, packed_init, reverse);
    const std::vector<Tensor> per_step = batch(failures, {carry, x}, {entry, xs});
    for (size_t i = 0; i < checks.size(); ++i)
      record_check({sum(per_step[i]), checks[i].size * T, checks[i].message + ", in a scan's step"});
  }
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
  // The body's run-time checks ride in the carry: one failure count each, added up step by step.
  // They are known only once the body is traced, so a body that makes some is traced again with
  // the counts in its carry (a pure function traces the same twice).
  auto trace = [&](size_t counts) {
    std::vector<Shape> shapes = shapes_of(init);
    shapes.resize(shapes.size() + counts);
    std::vector<Tensor> start = init;
    for (size_t i = 0; i < counts; ++i) start.push_back(scalar(0, init[0].dtype()));
    const Tensor packed_init = pack(start);
    const Tensor carry = stand_in(packed_init.dtype(), packed_init.shape(), "while/carry", where);
    std::vector<Tensor> parts = unpack_all(carry, shapes);
    const std::vector<Tensor> counted(parts.end() - static_cast<std::ptrdiff_t>(counts), parts.end());
    parts.resize(init.size());
    const Tensor go_on = without_checks("while_loop", where, [&] { return cond(parts); });
    auto [next, checks] = with_checks([&] { return body(parts); });
    if (!go_on.defined() || go_on.dtype() != DType::bool_ || !go_on.shape().empty())
      fail_at(where, "while_loop", fmt::format("the condition must return a bool scalar, got {}",
                                               go_on.defined() ? describe(go_on.dtype(), go_on.shape()) : "an empty Tensor"));
    check_same_types(next, init, "while_loop", "the body returns carry", "it came in as",
                     "a carry keeps its shape and dtype from step to step", where);
    if (counts == 0 || checks.size() != counts) return std::tuple{packed_init, carry, go_on, next, checks, shapes};
    for (size_t i = 0; i < counts; ++i) {
      const Tensor failures = count_as(checks[i].failures, counted[i].dtype());
      next.push_back(holds_counts(counted[i].dtype()) ? counted[i] + failures
                                                      : ::zephyr::where(greater(checks[i].failures, scalar(0, DType::i32)),
                                                               failures, counted[i]));
    }
    return std::tuple{packed_init, carry, go_on, next, checks, shapes};
  };
  auto [packed_init, carry, go_on, next, checks, shapes] = trace(0);
  if (!checks.empty()) {
    const size_t counts = checks.size();
    std::tie(packed_init, carry, go_on, next, checks, shapes) = trace(counts);
    if (checks.size() != counts)
      fail_at(where, "while_loop", fmt::format("the body made {} run-time checks when traced once and {} when traced "
                                               "again: it must be a pure function of the carry", counts, checks.size()));
  }
  std::vector<Tensor> out = unpack_all(primitives::while_node(packed_init, carry, go_on, pack(next), where), shapes);
  for (size_t i = 0; i < checks.size(); ++i)
    record_check({count_from(out[init.size() + i]), -1, checks[i].message + ", in a while_loop's body",
                  !holds_counts(init[0].dtype())});
  out.resize(init.size());
  return out;
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
  std::vector<RuntimeCheck> branch_checks;  // their failure counts: results of the cond
  Tensor packed_true, packed_false;
  {
    NodeLog log;
    std::vector<RuntimeCheck> checks_true, checks_false;
    std::tie(if_true, checks_true) = with_checks([&] { return on_true(stand_ins); });
    std::tie(if_false, checks_false) = with_checks([&] { return on_false(stand_ins); });
    check_packable(if_true, "cond", "result", "results", where);
    check_same_types(if_false, if_true, "cond", "the false branch returns result", "the true branch returns",
                     "both branches must return the same shapes and dtypes", where);
    // A branch's checks count only where it is taken: each is an extra result, 0 from the other.
    const DType dtype = if_true[0].dtype();
    const Tensor none = scalar(0, dtype);
    for (const RuntimeCheck& c : checks_true) {
      if_true.push_back(count_as(c.failures, dtype));
      if_false.push_back(none);
    }
    for (const RuntimeCheck& c : checks_false) {
      if_true.push_back(none);
      if_false.push_back(count_as(c.failures, dtype));
    }
    for (const auto* checks : {&checks_true, &checks_false})
      for (const RuntimeCheck& c : *checks) branch_checks.push_back({Tensor(), c.size, c.message + ", in a cond's branch",
                                                                      !holds_counts(dtype)});
    packed_true = pack(if_true);
    packed_false = pack(if_false);
    for (const NodePtr& n : log.nodes()) made.insert(n.get());
  }
  const Tensor out = primitives::cond_node(pred, stand_ins, operands, packed_true, packed_false, where, &made);
  std::vector<Tensor> results = unpack_all(out, shapes_of(if_true));
  const size_t count = results.size() - branch_checks.size();
  for (size_t i = 0; i < branch_checks.size(); ++i) {
    branch_checks[i].failures = count_from(results[count + i]);
    record_check(std::move(branch_checks[i]));
  }
  results.resize(count);
  return results;
}

}  // namespace zephyr::detail
