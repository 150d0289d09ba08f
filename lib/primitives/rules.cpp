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

void expect_axes(const Call& c, const Axes& axes, int64_t rank) {
  for (size_t i = 0; i < axes.size(); ++i)
    if (axes[i] < 0 || axes[i] >= rank || (i > 0 && axes[i] <= axes[i - 1]))
      fail_at(c.loc, mnemonic(c.op), fmt::format("axes [{}] are not sorted, distinct axes of a rank-{} operand",
                                                 fmt::join(axes, ", "), rank));
}

}  // namespace zephyr::primitives
