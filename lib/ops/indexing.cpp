// Shape rules of the indexing primitives: take (a gather of rows) and its transpose scatter_add.
#include <fmt/format.h>

#include "zephyr/ops.h"

namespace zephyr {

Tensor take(const Tensor& table, const Tensor& ids, Loc loc) {
  SourceLoc where = SourceLoc::from(loc);
  if (ids.dtype() != DType::i32)
    fail_at(where, "take", fmt::format("ids must be i32, got {}", describe(ids.dtype(), ids.shape())));
  if (table.ndim() < 1) fail_at(where, "take", "needs a table of rank >= 1, got a scalar");
  Shape shape = ids.shape();
  shape.insert(shape.end(), table.shape().begin() + 1, table.shape().end());
  return Tensor(make_node(OpKind::Gather, table.dtype(), std::move(shape), {table.node(), ids.node()}, {}, where));
}

Tensor scatter_add(const Tensor& ids, const Tensor& updates, int64_t rows, Loc loc) {
  SourceLoc where = SourceLoc::from(loc);
  if (ids.dtype() != DType::i32)
    fail_at(where, "scatter_add", fmt::format("ids must be i32, got {}", describe(ids.dtype(), ids.shape())));
  if (rows <= 0) fail_at(where, "scatter_add", fmt::format("needs rows > 0, got {}", rows));
  Shape lead(updates.shape().begin(), updates.shape().begin() + std::min(updates.ndim(), ids.ndim()));
  if (updates.ndim() < ids.ndim() || lead != ids.shape())
    fail_at(where, "scatter_add", fmt::format("updates {} do not start with the ids' shape {}",
                                              to_string(updates.shape()), to_string(ids.shape())));
  if (!is_float(updates.dtype()) && updates.dtype() != DType::i32)
    fail_at(where, "scatter_add", "updates must be numeric, got " + describe(updates.dtype(), updates.shape()));
  Shape shape{rows};
  shape.insert(shape.end(), updates.shape().begin() + ids.ndim(), updates.shape().end());
  Attrs attrs;
  return Tensor(make_node(OpKind::ScatterAdd, updates.dtype(), std::move(shape), {ids.node(), updates.node()},
                          std::move(attrs), where));
}

}  // namespace zephyr
