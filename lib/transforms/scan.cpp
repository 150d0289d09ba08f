// z::scan and z::fori_loop: the user's step traced once on stand-ins, as one Scan node over a
// carry packed into a single Tensor. The outputs of the steps are not carried through the loop:
// an output that is part of the carry is read from the stacked carries, any other is computed
// for every step at once afterwards (vmap of the step's output over the carries it started from).
#include <fmt/format.h>

#include <limits>

#include "zephyr/checks.h"
#include "zephyr/ops.h"
#include "zephyr/scan.h"
#include "zephyr/vmap.h"

namespace zephyr::detail {
namespace {

Tensor stand_in(DType dtype, Shape shape, const std::string& name, const SourceLoc& where) {
  Attrs attrs;
  attrs.name = name;
  return Tensor(make_node(OpKind::Argument, dtype, std::move(shape), {}, std::move(attrs), where));
}

// The carry's parts as one vector (several parts) or as it is (one part), and back.
Tensor pack(const std::vector<Tensor>& parts) {
  if (parts.size() == 1) return parts[0];
  std::vector<Tensor> flat;
  for (const Tensor& p : parts) flat.push_back(reshape(p, {-1}));
  return concat(flat, 0);
}
// Part i of each packed carry in `packed`, whose leading axes are `lead` ([] or [T]).
Tensor part(const Tensor& packed, const std::vector<Tensor>& like, size_t i, const Shape& lead) {
  if (like.size() == 1) return packed;
  int64_t offset = 0;
  for (size_t p = 0; p < i; ++p) offset += numel(like[p].shape());
  Shape shape = lead;
  shape.insert(shape.end(), like[i].shape().begin(), like[i].shape().end());
  const int64_t axis = static_cast<int64_t>(lead.size());
  return reshape(slice(packed, axis, offset, offset + numel(like[i].shape())), shape);
}

void check_carry(const std::vector<Tensor>& init, const SourceLoc& where) {
  if (init.empty()) fail_at(where, "scan", "needs a carry: the vector of carries is empty");
  for (size_t i = 0; i < init.size(); ++i) {
    if (!init[i].defined()) fail_at(where, "scan", fmt::format("carry {} is an empty Tensor", i));
    if (init[i].dtype() != init[0].dtype())
      fail_at(where, "scan", fmt::format("the carries must share one dtype (they travel as one vector): carry 0 is {}, "
                                         "carry {} is {}", describe(init[0].dtype(), init[0].shape()), i,
                                         describe(init[i].dtype(), init[i].shape())));
  }
}

}  // namespace

std::pair<std::vector<Tensor>, Tensor> scan(const ScanStep& step, const std::vector<Tensor>& init, const Tensor& xs,
                                            bool reverse, const SourceLoc& where) {
  check_carry(init, where);
  if (!xs.defined()) fail_at(where, "scan", "xs is an empty Tensor");
  if (xs.shape().empty() || xs.shape()[0] == 0)
    fail_at(where, "scan", fmt::format("runs one step per slice of xs along axis 0, but xs is {}",
                                       describe(xs.dtype(), xs.shape())));
  const int64_t T = xs.shape()[0];
  const Tensor packed_init = pack(init);
  const Tensor carry = stand_in(packed_init.dtype(), packed_init.shape(), "scan/carry", where);
  std::vector<Tensor> parts;
  for (size_t i = 0; i < init.size(); ++i) parts.push_back(part(carry, init, i, {}));
  const Tensor x = stand_in(xs.dtype(), Shape(xs.shape().begin() + 1, xs.shape().end()), "scan/x", where);

  std::pair<std::vector<Tensor>, Tensor> out;
  {
    CheckScope checks;  // a run-time check on one step's values would read values the loop does not keep
    out = step(parts, x);
    if (!checks.checks().empty())
      fail_at(where, "scan", "the step makes a run-time check (an index or shape check on its values), which a scan "
                             "body cannot hold yet: compute the checked values outside the scan");
  }
  const auto& [next, y] = out;
  if (next.size() != init.size())
    fail_at(where, "scan", fmt::format("the step returns {} carries for {}", next.size(), init.size()));
  for (size_t i = 0; i < next.size(); ++i)
    if (!next[i].defined() || next[i].dtype() != init[i].dtype() || next[i].shape() != init[i].shape())
      fail_at(where, "scan", fmt::format("the step returns carry {} as {}, but it came in as {}: a carry keeps its "
                                         "shape and dtype from step to step", i,
                                         next[i].defined() ? describe(next[i].dtype(), next[i].shape()) : "an empty Tensor",
                                         describe(init[i].dtype(), init[i].shape())));

  const Tensor stacked = scan_node(packed_init, {xs}, {carry, x}, pack(next), reverse, true, where);
  const Tensor last_row = slice(stacked, 0, reverse ? 0 : T - 1, reverse ? 1 : T);
  std::vector<Tensor> last;
  for (size_t i = 0; i < init.size(); ++i) last.push_back(part(reshape(last_row, packed_init.shape()), init, i, {}));
  if (!y.defined()) return {last, Tensor()};
  for (size_t i = 0; i < next.size(); ++i)
    if (y.node() == next[i].node()) return {last, part(stacked, init, i, {T})};
  return {last, batch({y}, {carry, x}, {previous_carries(stacked, packed_init, reverse), xs})[0]};
}

Tensor loop_indices(int64_t lo, int64_t hi, const SourceLoc& where) {
  constexpr int64_t lowest = std::numeric_limits<int32_t>::min(), highest = std::numeric_limits<int32_t>::max();
  if (lo < lowest || hi - 1 > highest)
    fail_at(where, "fori_loop", fmt::format("counts from {} to {}, past the i32 range of its index", lo, hi));
  return iota({hi - lo}, 0, DType::i32) + scalar(static_cast<double>(lo), DType::i32);
}

}  // namespace zephyr::detail
