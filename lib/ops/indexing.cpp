// Shape rules of the indexing primitives: take (a gather of rows) and its transpose scatter_add.
#include <fmt/format.h>

#include "zephyr/ops.h"

#include "../primitives/primitive.h"

namespace zephyr {

Tensor take(const Tensor& table, const Tensor& ids, Loc loc) {
  return primitives::build(OpKind::Gather, {table.node(), ids.node()}, {}, SourceLoc::from(loc));
}

Tensor scatter_add(const Tensor& ids, const Tensor& updates, int64_t rows, Loc loc) {
  // The rows are the result's first extent; the record's rule derives the rest.
  return primitives::build(OpKind::ScatterAdd, {ids.node(), updates.node()}, {}, SourceLoc::from(loc),
                           {updates.dtype(), {rows}});
}

}  // namespace zephyr
