#include "rules.h"

namespace zephyr::primitives {

Tensor unbroadcast(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  int64_t extra = g.ndim() - static_cast<int64_t>(shape.size());
  Axes axes;
  for (int64_t i = 0; i < g.ndim(); ++i)
    if (i < extra || (shape[i - extra] == 1 && g.shape()[i] != 1)) axes.push_back(i);
  return reshape(sum(g, axes), shape);
}

Tensor tangent(const NodePtr& n, std::span<const Tensor> t, size_t i) {
  if (t[i].defined()) return t[i];
  return full(n->inputs[i]->shape, 0.0, n->inputs[i]->dtype);
}

Tensor diagonal_jvp(const NodePtr& n, std::span<const Tensor> t) { return primitive(n->op).vjp.get()(n, t[0])[0]; }

Tensor same_op(const NodePtr& n, std::vector<Tensor> inputs) {
  std::vector<NodePtr> nodes;
  for (const Tensor& x : inputs) nodes.push_back(x.node());
  return build(n->op, std::move(nodes), n->attrs, n->loc, {n->dtype, n->shape});
}

int64_t batch_size(std::span<const Tensor> inputs, const std::vector<bool>& batched) {
  for (size_t i = 0; i < inputs.size(); ++i)
    if (batched[i]) return inputs[i].shape()[0];
  throw Error("[vmap] internal: a batching rule was called with no batched input");
}

Shape with_batch(int64_t size, const Shape& shape) {
  Shape out{size};
  out.insert(out.end(), shape.begin(), shape.end());
  return out;
}

Axes after_batch(const Axes& axes) {
  Axes out;
  for (int64_t a : axes) out.push_back(a + 1);
  return out;
}

Tensor batched_input(std::span<const Tensor> inputs, const std::vector<bool>& batched, size_t i) {
  if (batched[i]) return inputs[i];
  return broadcast_to(inputs[i], with_batch(batch_size(inputs, batched), inputs[i].shape()));
}

Tensor same_op_batched(const NodePtr& n, const std::vector<Tensor>& inputs, Attrs attrs, int64_t size) {
  std::vector<NodePtr> nodes;
  for (const Tensor& x : inputs) nodes.push_back(x.node());
  return build(n->op, std::move(nodes), std::move(attrs), n->loc, {n->dtype, with_batch(size, n->shape)});
}

Tensor elementwise_batch(const NodePtr& n, std::span<const Tensor> inputs, const std::vector<bool>& batched) {
  const int64_t size = batch_size(inputs, batched);
  std::vector<NodePtr> aligned;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!batched[i]) {
      aligned.push_back(inputs[i].node());
      continue;
    }
    const Shape& example = n->inputs[i]->shape;
    Shape shape(n->shape.size() - example.size() + 1, 1);
    shape[0] = size;
    shape.insert(shape.end(), example.begin(), example.end());
    aligned.push_back(reshape(inputs[i], shape).node());
  }
  return build(n->op, std::move(aligned), n->attrs, n->loc, {n->dtype, with_batch(size, n->shape)});
}

Tensor leaf_batch(const NodePtr& n, std::span<const Tensor>, const std::vector<bool>&) {
  fail_at(n->loc, mnemonic(n->op), "[vmap] internal: a leaf has no inputs to batch");
}

void expect_axes(const Call& c, const Axes& axes, int64_t rank) {
  for (size_t i = 0; i < axes.size(); ++i)
    if (axes[i] < 0 || axes[i] >= rank || (i > 0 && axes[i] <= axes[i - 1]))
      fail_at(c.loc, mnemonic(c.op), fmt::format("axes [{}] are not sorted, distinct axes of a rank-{} operand",
                                                 fmt::join(axes, ", "), rank));
}

}  // namespace zephyr::primitives
