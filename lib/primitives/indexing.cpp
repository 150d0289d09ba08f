// Indexing by i32 ids along axis 0 of a table, and its transpose. Ids outside [0, rows) are
// clamped to the nearest row, as the lowering does (nets::token_embed adds a checked variant).
#include <algorithm>

#include "host.h"
#include "rules.h"

namespace zephyr::primitives::records {
namespace {

int64_t row(double id, int64_t rows) { return std::clamp<int64_t>(static_cast<int64_t>(id), 0, rows - 1); }

void expect_ids(const Call& c, const Node& ids, const char* what) {
  if (ids.dtype != DType::i32) fail_at(c.loc, what, fmt::format("ids must be i32, got {}", describe(ids.dtype, ids.shape)));
}

// Batched ids (size, ...) into a table of `rows` rows per example, as rows of the examples'
// tables stacked: clamped within the example, then offset by example * rows.
Tensor own_rows(const Tensor& ids, int64_t rows) {
  const Tensor clamped = minimum(maximum(ids, scalar(0, DType::i32)), scalar(static_cast<double>(rows - 1), DType::i32));
  Shape leading(ids.shape().size(), 1);
  leading[0] = ids.shape()[0];
  return clamped + reshape(iota({ids.shape()[0]}) * scalar(static_cast<double>(rows), DType::i32), leading);
}

}  // namespace

// out[i..., j...] = table[ids[i...], j...]
extern const Primitive Gather{
    .attributes = kNoAttrs,
    .elementwise = false, .low_precision = LowPrecision::as_stored,
    .infer = [](const Call& c) {
      expect_operands(c, 2);
      const Node &table = operand_node(c, 0), &ids = operand_node(c, 1);
      expect_ids(c, ids, "take");
      if (table.shape.empty()) fail_at(c.loc, "take", "needs a table of rank >= 1, got a scalar");
      Shape shape = ids.shape;
      shape.insert(shape.end(), table.shape.begin() + 1, table.shape.end());
      return NodeType{table.dtype, std::move(shape)};
    },
    .vjp = [](const NodePtr& n, const Tensor& g) {
      return std::vector<Tensor>{scatter_add(input(n, 1), g, n->inputs[0]->shape[0]), Tensor()};
    },
    .jvp = [](const NodePtr& n, std::span<const Tensor> t) { return same_op(n, {t[0], input(n, 1)}); },
    .batch = [](const NodePtr&, std::span<const Tensor> in, const std::vector<bool>& batched) {
      const Tensor &table = in[0], &ids = in[1];
      if (!batched[1]) {  // shared ids: gather rows of (rows, size, ...) and bring the batch forward
        Axes perm{1, 0};
        for (int64_t a = 2; a < table.ndim(); ++a) perm.push_back(a);
        return moveaxis(take(transpose(table, perm), ids), ids.ndim(), 0);
      }
      if (!batched[0]) return take(table, ids);
      // Both batched: example b's rows are b * rows ... in the flattened table. Clamping first
      // keeps an id out of range within its own example, as the unbatched op does.
      const int64_t size = table.shape()[0], rows = table.shape()[1];
      Shape flat = table.shape();
      flat.erase(flat.begin());
      flat[0] = size * rows;
      return take(reshape(table, flat), own_rows(ids, rows));
    },
    .evaluate = [](const Node& n, std::span<const Array> in) {
      const int64_t rows = in[0].shape(0), width = in[0].size() / rows;
      Array out = host::zeros(n.shape);
      for (int64_t i = 0; i < in[1].size(); ++i) {
        const int64_t r = row(in[1].data<double>()[i], rows);
        std::copy_n(in[0].data<double>() + r * width, width, out.data<double>() + i * width);
      }
      return out;
    },
};

// out[r, j...] = sum of updates[i..., j...] over the i with ids[i...] == r.
extern const Primitive ScatterAdd{
    .attributes = kNoAttrs,
    .elementwise = false, .low_precision = LowPrecision::in_f32,
    .infer = [](const Call& c) {
      expect_operands(c, 2);
      const Node &ids = operand_node(c, 0), &updates = operand_node(c, 1);
      expect_ids(c, ids, "scatter_add");
      const Shape& declared = c.declared.shape;
      if (declared.empty() || declared[0] <= 0)
        fail_at(c.loc, "scatter_add", fmt::format("needs rows > 0, got {}", declared.empty() ? 0 : declared[0]));
      const size_t lead = std::min(updates.shape.size(), ids.shape.size());
      if (updates.shape.size() < ids.shape.size() || !std::equal(ids.shape.begin(), ids.shape.end(), updates.shape.begin()))
        fail_at(c.loc, "scatter_add", fmt::format("updates {} do not start with the ids' shape {}",
                                                  to_string(updates.shape), to_string(ids.shape)));
      if (!is_float(updates.dtype) && updates.dtype != DType::i32)
        fail_at(c.loc, "scatter_add", "updates must be numeric, got " + describe(updates.dtype, updates.shape));
      Shape shape{declared[0]};
      shape.insert(shape.end(), updates.shape.begin() + static_cast<int64_t>(lead), updates.shape.end());
      return NodeType{updates.dtype, std::move(shape)};
    },
    .vjp = [](const NodePtr& n, const Tensor& g) { return std::vector<Tensor>{Tensor(), take(g, input(n, 0))}; },
    .jvp = [](const NodePtr& n, std::span<const Tensor> t) { return same_op(n, {input(n, 0), t[1]}); },
    .batch = [](const NodePtr& n, std::span<const Tensor> in, const std::vector<bool>& batched) {
      const Tensor& ids = in[0];
      const int64_t rows = n->shape[0];
      if (!batched[0]) {  // shared ids: scatter (ids..., size, ...) into (rows, size, ...)
        Tensor updates = moveaxis(in[1], 0, ids.ndim());
        return moveaxis(scatter_add(ids, updates, rows), 1, 0);
      }
      const Tensor updates = batched_input(in, batched, 1);
      const int64_t size = updates.shape()[0];
      return reshape(scatter_add(own_rows(ids, rows), updates, size * rows), with_batch(size, n->shape));
    },
    .evaluate = [](const Node& n, std::span<const Array> in) {
      const int64_t rows = n.shape[0], count = in[0].size(), width = numel(n.shape) / rows;
      Array out = host::zeros(n.shape);
      for (int64_t i = 0; i < count; ++i) {
        const int64_t r = row(in[0].data<double>()[i], rows);
        for (int64_t j = 0; j < width; ++j) out.data<double>()[r * width + j] += in[1].data<double>()[i * width + j];
      }
      return out;
    },
};

}  // namespace zephyr::primitives::records
