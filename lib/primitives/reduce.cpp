// Reductions over a sorted set of axes, which leave the shape.
#include <algorithm>
#include <limits>

#include "host.h"
#include "rules.h"

namespace zephyr::primitives::records {
namespace {

NodeType reduced_type(const Call& c) {
  expect_operands(c, 1);
  const Node& x = operand_node(c, 0);
  if (x.dtype == DType::bool_) fail_at(c.loc, mnemonic(c.op), "cannot reduce a bool tensor; cast it first");
  const Axes& axes = c.attrs.axes;
  expect_axes(c, axes, static_cast<int64_t>(x.shape.size()));
  Shape out;
  for (size_t i = 0; i < x.shape.size(); ++i)
    if (!std::binary_search(axes.begin(), axes.end(), static_cast<int64_t>(i))) out.push_back(x.shape[i]);
  return {x.dtype, std::move(out)};
}

// The input's shape with the reduced axes kept as extent 1.
Shape kept(const NodePtr& n) {
  Shape shape = n->inputs[0]->shape;
  for (int64_t a : n->attrs.axes) shape[a] = 1;
  return shape;
}

// out[j] = combine(out[j], x[i]) over the input, j being i without the reduced axes.
template <class F>
Array reduce(const Node& n, const Array& x, double init, F combine) {
  Array out = Array::full(n.shape, init, DType::f64);
  const Shape& in_shape = x.shape();
  std::vector<bool> reduced(in_shape.size(), false);
  for (int64_t a : n.attrs.axes) reduced[a] = true;
  const double* v = x.data<double>();
  double* o = out.data<double>();
  int64_t flat = 0;
  host::for_each_index(in_shape, [&](const std::vector<int64_t>& index) {
    int64_t j = 0;
    for (size_t a = 0; a < index.size(); ++a)
      if (!reduced[a]) j = j * in_shape[a] + index[a];
    o[j] = combine(o[j], v[flat++]);
  });
  return out;
}

}  // namespace

extern const Primitive ReduceSum{
    .attributes = kAxes,
    .elementwise = false, .low_precision = LowPrecision::in_f32,
    .infer = reduced_type,
    .vjp = [](const NodePtr& n, const Tensor& g) {
      return std::vector<Tensor>{broadcast_to(reshape(g, kept(n)), n->inputs[0]->shape)};
    },
    .jvp = [](const NodePtr& n, std::span<const Tensor> t) { return same_op(n, {t[0]}); },
    .batch = [](const NodePtr& n, std::span<const Tensor> in, const std::vector<bool>& batched) {
      Attrs attrs = n->attrs;
      attrs.axes = after_batch(n->attrs.axes);
      return same_op_batched(n, {in[0]}, std::move(attrs), batch_size(in, batched));
    },
    .evaluate = [](const Node& n, std::span<const Array> in) {
      return reduce(n, in[0], 0.0, [](double acc, double x) { return acc + x; });
    },
};

// Ties split the cotangent evenly, as in JAX; NaN wins, as arith.maximumf.
extern const Primitive ReduceMax{
    .attributes = kAxes,
    .elementwise = false, .low_precision = LowPrecision::in_f32,
    .infer = reduced_type,
    .vjp = [](const NodePtr& n, const Tensor& g) {
      // The mask stays a comparison, which each kernel that reads it recomputes from x and the
      // maximum (partition.cpp): a max pool's would be the size of its input, and x (a ReLU's
      // output, the logits) is kept for the backward pass anyway. Stored as bytes, it was a
      // forward kernel of its own and 1.6 MB per CNN layer written and read twice.
      Tensor hit = equal(input(n, 0), reshape(Tensor(n), kept(n)));
      Tensor count = cast(sum(cast(hit, DType::i32), n->attrs.axes, true), g.dtype());
      return std::vector<Tensor>{cast(hit, g.dtype()) * reshape(g, kept(n)) / count};
    },
    .jvp = [](const NodePtr& n, std::span<const Tensor> t) {  // the VJP's even split of ties
      Tensor hit = cast(equal(input(n, 0), reshape(Tensor(n), kept(n))), n->dtype);
      return sum(hit * t[0], n->attrs.axes) / sum(hit, n->attrs.axes);
    },
    .batch = [](const NodePtr& n, std::span<const Tensor> in, const std::vector<bool>& batched) {
      Attrs attrs = n->attrs;
      attrs.axes = after_batch(n->attrs.axes);
      return same_op_batched(n, {in[0]}, std::move(attrs), batch_size(in, batched));
    },
    .evaluate = [](const Node& n, std::span<const Array> in) {
      const double lowest = is_float(n.dtype) ? -std::numeric_limits<double>::infinity()
                                              : static_cast<double>(std::numeric_limits<int32_t>::min());
      return reduce(n, in[0], lowest, [](double acc, double x) { return std::isnan(acc) || std::isnan(x) ? NAN : std::max(acc, x); });
    },
};

}  // namespace zephyr::primitives::records
