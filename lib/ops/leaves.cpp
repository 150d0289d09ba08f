// The leaf ops: literals and index ramps (their records are in lib/primitives/leaves.cpp).
#include "zephyr/ops.h"

#include "../primitives/primitive.h"

namespace zephyr {

Tensor full(const Shape& shape, double value, DType dtype, Loc loc) {
  Attrs attrs;
  attrs.value = Array::full({}, value, dtype);
  return primitives::build(OpKind::Constant, {}, std::move(attrs), SourceLoc::from(loc), {dtype, shape});
}

Tensor scalar(double value, DType dtype, Loc loc) { return full({}, value, dtype, loc); }

Tensor constant(const Array& value, Loc loc) {
  if (!value.defined()) fail_at(SourceLoc::from(loc), "constant", "array is empty (default-constructed)");
  Attrs attrs;
  attrs.value = value;
  return primitives::build(OpKind::Constant, {}, std::move(attrs), SourceLoc::from(loc), {value.dtype(), value.shape()});
}

Tensor iota(const Shape& shape, int64_t axis, DType dtype, Loc loc) {
  SourceLoc where = SourceLoc::from(loc);
  if (shape.empty()) fail_at(where, "iota", "needs a shape of rank >= 1");
  Attrs attrs;
  attrs.axis = normalize_axis(axis, static_cast<int64_t>(shape.size()), "iota", where);
  return primitives::build(OpKind::Iota, {}, std::move(attrs), where, {dtype, shape});
}

}  // namespace zephyr
