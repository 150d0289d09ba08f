// Shape rules of the leaf ops: literals and index ramps.
#include "zephyr/ops.h"

#include <fmt/format.h>

namespace zephyr {

Tensor full(const Shape& shape, double value, DType dtype, Loc loc) {
  Attrs attrs;
  attrs.value = Array::full({}, value, dtype);
  return Tensor(make_node(OpKind::Constant, dtype, shape, {}, std::move(attrs), SourceLoc::from(loc)));
}

Tensor scalar(double value, DType dtype, Loc loc) { return full({}, value, dtype, loc); }

Tensor constant(const Array& value, Loc loc) {
  if (!value.defined()) fail_at(SourceLoc::from(loc), "constant", "array is empty (default-constructed)");
  Attrs attrs;
  attrs.value = value;
  return Tensor(make_node(OpKind::Constant, value.dtype(), value.shape(), {}, std::move(attrs),
                          SourceLoc::from(loc)));
}

Tensor iota(const Shape& shape, int64_t axis, DType dtype, Loc loc) {
  SourceLoc where = SourceLoc::from(loc);
  if (shape.empty()) fail_at(where, "iota", "needs a shape of rank >= 1");
  Attrs attrs;
  attrs.axis = normalize_axis(axis, static_cast<int64_t>(shape.size()), "iota");
  return Tensor(make_node(OpKind::Iota, dtype, shape, {}, std::move(attrs), where));
}

}  // namespace zephyr
