// Shape rules of the reduction primitives, and the reductions composed from them.
#include <fmt/format.h>

#include <algorithm>

#include "zephyr/ops.h"

#include "../primitives/primitive.h"

namespace zephyr {
namespace {

Axes normalize_axes(const Axes& axes, int64_t rank, const char* op, const SourceLoc& where) {
  Axes out;
  if (axes.empty())
    for (int64_t i = 0; i < rank; ++i) out.push_back(i);
  for (int64_t a : axes) out.push_back(normalize_axis(a, rank, op, where));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Shape kept_shape(const Shape& shape, const Axes& axes) {
  Shape kept = shape;
  for (int64_t a : axes) kept[a] = 1;
  return kept;
}

Tensor reduce(OpKind op, const Tensor& x, const Axes& axes, bool keepdims, Loc loc) {
  SourceLoc where = SourceLoc::from(loc);
  Axes norm = normalize_axes(axes, x.ndim(), mnemonic(op), where);
  Attrs attrs;
  attrs.axes = norm;
  Tensor r = primitives::build(op, {x.node()}, std::move(attrs), where);
  return keepdims ? reshape(r, kept_shape(x.shape(), norm), loc) : r;
}

int64_t reduced_count(const Tensor& x, const Axes& axes, const SourceLoc& where) {
  int64_t n = 1;
  for (int64_t a : normalize_axes(axes, x.ndim(), "mean", where)) n *= x.shape()[a];
  return n;
}

}  // namespace

Tensor sum(const Tensor& x, Axes axes, bool keepdims, Loc loc) {
  return reduce(OpKind::ReduceSum, x, axes, keepdims, loc);
}
Tensor max(const Tensor& x, Axes axes, bool keepdims, Loc loc) {
  return reduce(OpKind::ReduceMax, x, axes, keepdims, loc);
}

Tensor mean(const Tensor& x, Axes axes, bool keepdims, Loc loc) {
  double n = static_cast<double>(reduced_count(x, axes, SourceLoc::from(loc)));
  return div(sum(x, axes, keepdims, loc), scalar(n, x.dtype(), loc), loc);
}

Tensor var(const Tensor& x, Axes axes, bool keepdims, Loc loc) {
  Tensor centered = sub(x, mean(x, axes, true, loc), loc);
  return mean(mul(centered, centered, loc), axes, keepdims, loc);
}

Tensor softmax(const Tensor& x, int64_t axis, Loc loc) {
  normalize_axis(axis, x.ndim(), "softmax", SourceLoc::from(loc));  // named as the user wrote it
  // Subtracting the max keeps exp() finite; the result is mathematically unchanged.
  Tensor e = exp(sub(x, max(x, {axis}, true, loc), loc), loc);
  return div(e, sum(e, {axis}, true, loc), loc);
}

Tensor log_softmax(const Tensor& x, int64_t axis, Loc loc) {
  normalize_axis(axis, x.ndim(), "log_softmax", SourceLoc::from(loc));
  Tensor shifted = sub(x, max(x, {axis}, true, loc), loc);
  return sub(shifted, log(sum(exp(shifted, loc), {axis}, true, loc), loc), loc);
}

Tensor logsumexp(const Tensor& x, Axes axes, bool keepdims, Loc loc) {
  const Axes norm = normalize_axes(axes, x.ndim(), "logsumexp", SourceLoc::from(loc));
  Tensor m = max(x, axes, true, loc);
  Tensor r = add(m, log(sum(exp(sub(x, m, loc), loc), axes, true, loc), loc), loc);
  return keepdims ? r : squeeze(r, norm, loc);
}

}  // namespace zephyr
