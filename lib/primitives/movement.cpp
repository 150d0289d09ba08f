// Data movement: reshapes, permutations, broadcasts, windows, concatenation, padding and flips.
// None computes anything; the reference evaluations move elements by index.
#include <algorithm>

#include "host.h"
#include "rules.h"

namespace zephyr::primitives::records {
namespace {

using Grads = std::vector<Tensor>;

// out[index] = x[source(index)] over the node's shape, `source` giving a flat input position.
template <class F>
Array gather_by_index(const Node& n, F source) {
  Array out = host::zeros(n.shape);
  double* o = out.data<double>();
  int64_t flat = 0;
  host::for_each_index(n.shape, [&](const std::vector<int64_t>& index) { o[flat++] = source(index); });
  return out;
}

int64_t flat_index(const std::vector<int64_t>& index, const Shape& shape) {
  int64_t f = 0;
  for (size_t a = 0; a < shape.size(); ++a) f = f * shape[a] + index[a];
  return f;
}

void expect_rank(const Call& c, const std::vector<int64_t>& field, const char* what, size_t rank) {
  if (field.size() != rank)
    fail_at(c.loc, mnemonic(c.op), fmt::format("has {} {} for a rank-{} operand", field.size(), what, rank));
}

}  // namespace

extern const Primitive Reshape{
    .attributes = kNoAttrs,
    .elementwise = false, .low_precision = LowPrecision::as_stored,
    .infer = [](const Call& c) {
      expect_operands(c, 1);
      const Node& x = operand_node(c, 0);
      if (numel(x.shape) != numel(c.declared.shape))
        fail_at(c.loc, "reshape", fmt::format("cannot reshape {} ({} elements) into {} ({} elements)", to_string(x.shape),
                                              numel(x.shape), to_string(c.declared.shape), numel(c.declared.shape)));
      return NodeType{x.dtype, c.declared.shape};
    },
    .vjp = [](const NodePtr& n, const Tensor& g) { return Grads{reshape(g, n->inputs[0]->shape)}; },
    .jvp = [](const NodePtr& n, std::span<const Tensor> t) { return same_op(n, {t[0]}); },
    .batch = [](const NodePtr& n, std::span<const Tensor> in, const std::vector<bool>& batched) {
      return same_op_batched(n, {in[0]}, n->attrs, batch_size(in, batched));  // examples stay contiguous
    },
    .evaluate = [](const Node& n, std::span<const Array> in) { return in[0].clone().reshape(n.shape); },
};

// out[i0, i1, ...] = x[...] with out axis k reading input axis axes[k].
extern const Primitive Transpose{
    .attributes = kAxes,
    .elementwise = false, .low_precision = LowPrecision::as_stored,
    .infer = [](const Call& c) {
      expect_operands(c, 1);
      const Node& x = operand_node(c, 0);
      const Axes& perm = c.attrs.axes;
      Axes sorted = perm;
      std::sort(sorted.begin(), sorted.end());
      bool permutation = perm.size() == x.shape.size();
      for (size_t i = 0; permutation && i < sorted.size(); ++i) permutation = sorted[i] == static_cast<int64_t>(i);
      if (!permutation)
        fail_at(c.loc, "transpose", fmt::format("[{}] is not a permutation of the axes of {}", fmt::join(perm, ", "),
                                                describe(x.dtype, x.shape)));
      Shape out;
      for (int64_t p : perm) out.push_back(x.shape[p]);
      return NodeType{x.dtype, std::move(out)};
    },
    .vjp = [](const NodePtr& n, const Tensor& g) {
      Axes inverse(n->attrs.axes.size());
      for (size_t i = 0; i < inverse.size(); ++i) inverse[n->attrs.axes[i]] = static_cast<int64_t>(i);
      return Grads{transpose(g, inverse)};
    },
    .jvp = [](const NodePtr& n, std::span<const Tensor> t) { return same_op(n, {t[0]}); },
    .batch = [](const NodePtr& n, std::span<const Tensor> in, const std::vector<bool>& batched) {
      Attrs attrs = n->attrs;
      attrs.axes = Axes{0};
      for (int64_t a : after_batch(n->attrs.axes)) attrs.axes.push_back(a);
      return same_op_batched(n, {in[0]}, std::move(attrs), batch_size(in, batched));
    },
    .evaluate = [](const Node& n, std::span<const Array> in) {
      const Shape& from = in[0].shape();
      std::vector<int64_t> source(from.size());
      return gather_by_index(n, [&](const std::vector<int64_t>& index) {
        for (size_t k = 0; k < index.size(); ++k) source[n.attrs.axes[k]] = index[k];
        return in[0].data<double>()[flat_index(source, from)];
      });
    },
};

extern const Primitive BroadcastTo{
    .attributes = kNoAttrs,
    .elementwise = true, .low_precision = LowPrecision::as_stored,
    .infer = [](const Call& c) {
      expect_operands(c, 1);
      const Node& x = operand_node(c, 0);
      const Shape& to = c.declared.shape;
      if (x.shape.size() > to.size() || broadcast_shapes(x.shape, to, "broadcast_to", c.loc) != to)
        fail_at(c.loc, "broadcast_to", fmt::format("cannot broadcast {} to {}", to_string(x.shape), to_string(to)));
      return NodeType{x.dtype, to};
    },
    .vjp = [](const NodePtr& n, const Tensor& g) { return Grads{unbroadcast(g, n->inputs[0]->shape)}; },
    .jvp = [](const NodePtr& n, std::span<const Tensor> t) { return same_op(n, {t[0]}); },
    .batch = elementwise_batch,
    .evaluate = [](const Node& n, std::span<const Array> in) { return host::map<1>(n, in, [](double x) { return x; }); },
};

// out[i] = x[starts + i * strides], per axis.
extern const Primitive Slice{
    .attributes = kStarts | kStrides,
    .elementwise = false, .low_precision = LowPrecision::as_stored,
    .infer = [](const Call& c) {
      expect_operands(c, 1);
      const Node& x = operand_node(c, 0);
      const Shape& sizes = c.declared.shape;
      const size_t rank = x.shape.size();
      expect_rank(c, c.attrs.starts, "starts", rank);
      expect_rank(c, c.attrs.strides, "strides", rank);
      expect_rank(c, sizes, "sizes", rank);
      for (size_t i = 0; i < rank; ++i) {
        const int64_t start = c.attrs.starts[i], stride = c.attrs.strides[i];
        if (start < 0 || sizes[i] <= 0 || stride <= 0 || start + (sizes[i] - 1) * stride >= x.shape[i])
          fail_at(c.loc, "slice", fmt::format("{} elements from {} with stride {} do not fit axis {} of {}", sizes[i],
                                              start, stride, i, to_string(x.shape)));
      }
      return NodeType{x.dtype, sizes};
    },
    .vjp = [](const NodePtr& n, const Tensor& g) {  // the strided window, padded back to the input's shape
      const Shape& from = n->inputs[0]->shape;
      Shape low = n->attrs.starts, high(low.size()), interior(low.size());
      for (size_t a = 0; a < low.size(); ++a) {
        interior[a] = n->attrs.strides[a] - 1;
        high[a] = from[a] - (low[a] + (n->shape[a] - 1) * n->attrs.strides[a] + 1);
      }
      return Grads{pad(g, low, high, interior)};
    },
    .jvp = [](const NodePtr& n, std::span<const Tensor> t) { return same_op(n, {t[0]}); },
    .batch = [](const NodePtr& n, std::span<const Tensor> in, const std::vector<bool>& batched) {
      Attrs attrs = n->attrs;
      attrs.starts.insert(attrs.starts.begin(), 0);
      attrs.strides.insert(attrs.strides.begin(), 1);
      return same_op_batched(n, {in[0]}, std::move(attrs), batch_size(in, batched));
    },
    .evaluate = [](const Node& n, std::span<const Array> in) {
      std::vector<int64_t> source(n.shape.size());
      return gather_by_index(n, [&](const std::vector<int64_t>& index) {
        for (size_t a = 0; a < index.size(); ++a) source[a] = n.attrs.starts[a] + index[a] * n.attrs.strides[a];
        return in[0].data<double>()[flat_index(source, in[0].shape())];
      });
    },
};

extern const Primitive Concat{
    .attributes = kAxis,
    .elementwise = false, .low_precision = LowPrecision::as_stored,
    .infer = [](const Call& c) {
      if (c.inputs.empty()) fail_at(c.loc, "concat", "needs at least one tensor");
      const Node& first = operand_node(c, 0);
      const int64_t axis = c.attrs.axis;
      if (axis < 0 || axis >= static_cast<int64_t>(first.shape.size()))
        fail_at(c.loc, "concat", fmt::format("axis {} is out of range for {}", axis, describe(first.dtype, first.shape)));
      Shape shape = first.shape;
      shape[axis] = 0;
      for (const NodePtr& t : c.inputs) {
        Shape expected = first.shape;
        expected[axis] = t->shape.size() == first.shape.size() ? t->shape[axis] : -1;
        if (t->shape != expected || t->dtype != first.dtype)
          fail_at(c.loc, "concat", fmt::format("{} does not match {} outside axis {}", describe(t->dtype, t->shape),
                                               describe(first.dtype, first.shape), axis));
        shape[axis] += t->shape[axis];
      }
      return NodeType{first.dtype, std::move(shape)};
    },
    .vjp = [](const NodePtr& n, const Tensor& g) {
      Grads parts;
      int64_t offset = 0;
      for (const NodePtr& part : n->inputs) {
        const int64_t length = part->shape[n->attrs.axis];
        parts.push_back(slice(g, n->attrs.axis, offset, offset + length));
        offset += length;
      }
      return parts;
    },
    .jvp = [](const NodePtr& n, std::span<const Tensor> t) {
      std::vector<Tensor> parts;
      for (size_t i = 0; i < t.size(); ++i) parts.push_back(tangent(n, t, i));
      return same_op(n, std::move(parts));
    },
    .batch = [](const NodePtr& n, std::span<const Tensor> in, const std::vector<bool>& batched) {
      std::vector<Tensor> parts;
      for (size_t i = 0; i < in.size(); ++i) parts.push_back(batched_input(in, batched, i));
      Attrs attrs = n->attrs;
      attrs.axis += 1;
      return same_op_batched(n, parts, std::move(attrs), batch_size(in, batched));
    },
    .evaluate = [](const Node& n, std::span<const Array> in) {
      const int64_t axis = n.attrs.axis;
      std::vector<int64_t> source(n.shape.size());
      return gather_by_index(n, [&](const std::vector<int64_t>& index) {
        source = index;
        size_t part = 0;
        while (source[axis] >= in[part].shape(axis)) source[axis] -= in[part++].shape(axis);
        return in[part].data<double>()[flat_index(source, in[part].shape())];
      });
    },
};

// low[i] fill values before axis i, high[i] after, interior[i] between neighbours (XLA's pad).
extern const Primitive Pad{
    .attributes = kPadding | kValue,
    .elementwise = false, .low_precision = LowPrecision::as_stored,
    .infer = [](const Call& c) {
      expect_operands(c, 1);
      const Node& x = operand_node(c, 0);
      const Attrs& a = c.attrs;
      const size_t rank = x.shape.size();
      expect_rank(c, a.low, "low counts", rank);
      expect_rank(c, a.high, "high counts", rank);
      expect_rank(c, a.interior, "interior counts", rank);
      if (!a.value.defined() || a.value.size() != 1 || a.value.dtype() != x.dtype)
        fail_at(c.loc, "pad", fmt::format("needs a {} scalar fill value", name(x.dtype)));
      Shape shape(rank);
      for (size_t i = 0; i < rank; ++i) {
        if (a.low[i] < 0 || a.high[i] < 0 || a.interior[i] < 0)
          fail_at(c.loc, "pad", fmt::format("negative padding ({}, {}, {}) on axis {}", a.low[i], a.high[i], a.interior[i], i));
        shape[i] = a.low[i] + a.high[i] + x.shape[i] + (x.shape[i] - 1) * a.interior[i];
      }
      return NodeType{x.dtype, std::move(shape)};
    },
    .vjp = [](const NodePtr& n, const Tensor& g) {
      Shape steps = n->attrs.interior;
      for (int64_t& s : steps) s += 1;
      return Grads{strided_slice(g, n->attrs.low, n->inputs[0]->shape, steps)};
    },
    .jvp = [](const NodePtr& n, std::span<const Tensor> t) {  // the fill is a constant: its tangent is 0
      Attrs attrs = n->attrs;
      attrs.value = Array::zeros({}, n->dtype);
      return build(OpKind::Pad, {t[0].node()}, std::move(attrs), n->loc, {n->dtype, n->shape});
    },
    .batch = [](const NodePtr& n, std::span<const Tensor> in, const std::vector<bool>& batched) {
      Attrs attrs = n->attrs;
      for (Shape* counts : {&attrs.low, &attrs.high, &attrs.interior}) counts->insert(counts->begin(), 0);
      return same_op_batched(n, {in[0]}, std::move(attrs), batch_size(in, batched));
    },
    .evaluate = [](const Node& n, std::span<const Array> in) {
      const Attrs& a = n.attrs;
      const Shape& from = in[0].shape();
      std::vector<int64_t> source(n.shape.size());
      return gather_by_index(n, [&](const std::vector<int64_t>& index) {
        for (size_t i = 0; i < index.size(); ++i) {
          const int64_t offset = index[i] - a.low[i], step = a.interior[i] + 1;
          if (offset < 0 || offset % step != 0 || offset / step >= from[i]) return a.value.at(0);
          source[i] = offset / step;
        }
        return in[0].data<double>()[flat_index(source, from)];
      });
    },
};

extern const Primitive Reverse{
    .attributes = kAxes,
    .elementwise = false, .low_precision = LowPrecision::as_stored,
    .infer = [](const Call& c) {
      expect_operands(c, 1);
      const Node& x = operand_node(c, 0);
      expect_axes(c, c.attrs.axes, static_cast<int64_t>(x.shape.size()));
      return NodeType{x.dtype, x.shape};
    },
    .vjp = [](const NodePtr& n, const Tensor& g) { return Grads{reverse(g, n->attrs.axes)}; },
    .jvp = [](const NodePtr& n, std::span<const Tensor> t) { return same_op(n, {t[0]}); },
    .batch = [](const NodePtr& n, std::span<const Tensor> in, const std::vector<bool>& batched) {
      Attrs attrs = n->attrs;
      attrs.axes = after_batch(n->attrs.axes);
      return same_op_batched(n, {in[0]}, std::move(attrs), batch_size(in, batched));
    },
    .evaluate = [](const Node& n, std::span<const Array> in) {
      std::vector<int64_t> source(n.shape.size());
      return gather_by_index(n, [&](const std::vector<int64_t>& index) {
        source = index;
        for (int64_t a : n.attrs.axes) source[a] = n.shape[a] - 1 - index[a];
        return in[0].data<double>()[flat_index(source, n.shape)];
      });
    },
};

}  // namespace zephyr::primitives::records
