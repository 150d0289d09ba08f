// The data-movement ops: user-facing argument handling (negative axes, a -1 extent, identity
// shortcuts), then the primitive's own shape rule (lib/primitives/movement.cpp) builds the node.
#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "../primitives/primitive.h"
#include "zephyr/ops.h"

namespace zephyr {

Tensor reshape(const Tensor& x, Shape shape, Loc loc) {
  SourceLoc where = SourceLoc::from(loc);
  int64_t known = 1, inferred = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (inferred >= 0) fail_at(where, "reshape", "only one extent may be -1 in " + to_string(shape));
      inferred = static_cast<int64_t>(i);
    } else if (shape[i] < 0) {
      fail_at(where, "reshape", "negative extent in " + to_string(shape));
    } else {
      known *= shape[i];
    }
  }
  int64_t total = numel(x.shape());
  if (inferred >= 0) {
    if (known == 0 || total % known != 0)
      fail_at(where, "reshape", fmt::format("cannot reshape {} into {}", to_string(x.shape()), to_string(shape)));
    shape[inferred] = total / known;
  }
  if (shape == x.shape()) return x;
  return primitives::build(OpKind::Reshape, {x.node()}, {}, where, {x.dtype(), std::move(shape)});
}

Tensor transpose(const Tensor& x, Axes perm, Loc loc) {
  SourceLoc where = SourceLoc::from(loc);
  int64_t rank = x.ndim();
  if (perm.empty()) {
    perm.resize(rank);
    std::iota(perm.rbegin(), perm.rend(), 0);
  }
  if (static_cast<int64_t>(perm.size()) != rank)
    fail_at(where, "transpose", fmt::format("permutation [{}] does not match rank {} of {}", fmt::join(perm, ", "),
                                            rank, to_string(x.shape())));
  std::vector<bool> seen(rank, false);
  bool identity = true;
  for (int64_t i = 0; i < rank; ++i) {
    int64_t p = normalize_axis(perm[i], rank, "transpose", where);
    if (seen[p]) fail_at(where, "transpose", fmt::format("axis {} repeats in permutation [{}]", p, fmt::join(perm, ", ")));
    seen[p] = true;
    perm[i] = p;
    identity &= p == i;
  }
  if (identity) return x;
  Attrs attrs;
  attrs.axes = std::move(perm);
  return primitives::build(OpKind::Transpose, {x.node()}, std::move(attrs), where);
}

Tensor moveaxis(const Tensor& x, int64_t source, int64_t destination, Loc loc) {
  int64_t rank = x.ndim();
  const SourceLoc where = SourceLoc::from(loc);
  int64_t s = normalize_axis(source, rank, "moveaxis", where), d = normalize_axis(destination, rank, "moveaxis", where);
  Axes perm;
  for (int64_t i = 0; i < rank; ++i)
    if (i != s) perm.push_back(i);
  perm.insert(perm.begin() + d, s);
  return transpose(x, perm, loc);
}

Tensor broadcast_to(const Tensor& x, const Shape& shape, Loc loc) {
  if (x.shape() == shape) return x;
  return primitives::build(OpKind::BroadcastTo, {x.node()}, {}, SourceLoc::from(loc), {x.dtype(), shape});
}

Tensor expand_dims(const Tensor& x, int64_t axis, Loc loc) {
  Shape shape = x.shape();
  int64_t a = normalize_axis(axis, x.ndim() + 1, "expand_dims", SourceLoc::from(loc));
  shape.insert(shape.begin() + a, 1);
  return reshape(x, shape, loc);
}

Tensor squeeze(const Tensor& x, Axes axes, Loc loc) {
  SourceLoc where = SourceLoc::from(loc);
  std::vector<bool> drop(x.ndim(), false);
  if (axes.empty())
    for (int64_t i = 0; i < x.ndim(); ++i) drop[i] = x.shape()[i] == 1;
  for (int64_t a : axes) {
    int64_t n = normalize_axis(a, x.ndim(), "squeeze", where);
    if (x.shape()[n] != 1)
      fail_at(where, "squeeze", fmt::format("axis {} of {} has extent {}, not 1", a, to_string(x.shape()), x.shape()[n]));
    drop[n] = true;
  }
  Shape shape;
  for (int64_t i = 0; i < x.ndim(); ++i)
    if (!drop[i]) shape.push_back(x.shape()[i]);
  return reshape(x, shape, loc);
}

Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t stop, int64_t step, Loc loc) {
  SourceLoc where = SourceLoc::from(loc);
  if (step <= 0) fail_at(where, "slice", fmt::format("step must be positive, got {}", step));
  int64_t a = normalize_axis(axis, x.ndim(), "slice", where);
  int64_t n = x.shape()[a];
  auto clamp = [n](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + n : i, 0, n); };
  int64_t lo = clamp(start), hi = std::max(clamp(stop), clamp(start));
  int64_t count = (hi - lo + step - 1) / step;
  if (count == 0)
    fail_at(where, "slice", fmt::format("[{}:{}:{}] of axis {} (extent {}) is empty; empty tensors are not supported",
                                        start, stop, step, axis, n));
  if (lo == 0 && count == n && step == 1) return x;
  Attrs attrs;
  attrs.starts.assign(x.ndim(), 0);
  attrs.strides.assign(x.ndim(), 1);
  attrs.starts[a] = lo;
  attrs.strides[a] = step;
  Shape sizes = x.shape();
  sizes[a] = count;
  return primitives::build(OpKind::Slice, {x.node()}, std::move(attrs), where, {x.dtype(), std::move(sizes)});
}

Tensor concat(const std::vector<Tensor>& xs, int64_t axis, Loc loc) {
  SourceLoc where = SourceLoc::from(loc);
  if (xs.empty()) fail_at(where, "concat", "needs at least one tensor");
  if (xs.size() == 1) return xs[0];
  std::vector<NodePtr> inputs;
  for (const Tensor& t : xs) inputs.push_back(t.node());
  Attrs attrs;
  attrs.axis = normalize_axis(axis, xs[0].ndim(), "concat", where);
  return primitives::build(OpKind::Concat, std::move(inputs), std::move(attrs), where);
}

Tensor strided_slice(const Tensor& x, const Shape& starts, const Shape& sizes, const Shape& strides, Loc loc) {
  SourceLoc where = SourceLoc::from(loc);
  size_t rank = x.shape().size();
  if (starts.size() != rank || sizes.size() != rank || strides.size() != rank)
    fail_at(where, "slice", fmt::format("needs {} starts, sizes and strides for {}", rank, to_string(x.shape())));
  if (starts == Shape(rank, 0) && sizes == x.shape()) return x;
  Attrs attrs;
  attrs.starts = starts;
  attrs.strides = strides;
  return primitives::build(OpKind::Slice, {x.node()}, std::move(attrs), where, {x.dtype(), sizes});
}

Tensor pad(const Tensor& x, const Shape& low, const Shape& high, const Shape& interior, double value, Loc loc) {
  SourceLoc where = SourceLoc::from(loc);
  size_t rank = x.shape().size();
  Shape inner = interior.empty() ? Shape(rank, 0) : interior;
  if (low.size() != rank || high.size() != rank || inner.size() != rank)
    fail_at(where, "pad", fmt::format("needs {} low, high and interior counts for {}", rank, to_string(x.shape())));
  bool identity = true;
  for (size_t i = 0; i < rank; ++i) identity &= low[i] == 0 && high[i] == 0 && (inner[i] == 0 || x.shape()[i] == 1);
  if (identity) return x;
  Attrs attrs;
  attrs.low = low;
  attrs.high = high;
  attrs.interior = inner;
  attrs.value = Array::full({}, value, x.dtype());
  return primitives::build(OpKind::Pad, {x.node()}, std::move(attrs), where);
}

Tensor reverse(const Tensor& x, Axes axes, Loc loc) {
  Axes norm;
  for (int64_t a : axes) {
    int64_t n = normalize_axis(a, x.ndim(), "reverse", SourceLoc::from(loc));
    if (x.shape()[n] > 1) norm.push_back(n);
  }
  std::sort(norm.begin(), norm.end());
  norm.erase(std::unique(norm.begin(), norm.end()), norm.end());
  if (norm.empty()) return x;
  Attrs attrs;
  attrs.axes = std::move(norm);
  return primitives::build(OpKind::Reverse, {x.node()}, std::move(attrs), SourceLoc::from(loc));
}

int64_t Tensor::shape(int64_t axis) const { return node_->shape[normalize_axis(axis, ndim(), "shape")]; }

}  // namespace zephyr
