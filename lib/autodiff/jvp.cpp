// The forward sweep: in topological order, each node's JVP rule (in its primitive record,
// lib/primitives/) turns the tangents of its inputs into the tangent of its result.
#include <fmt/format.h>

#include <unordered_map>

#include "../primitives/primitive.h"
#include "zephyr/autodiff.h"
#include "zephyr/ops.h"

namespace zephyr {

std::vector<Tensor> jvp(const std::vector<Tensor>& outputs, const std::vector<Tensor>& primals,
                        const std::vector<Tensor>& tangents) {
  if (primals.size() != tangents.size())
    throw Error(fmt::format("[jvp] {} primals but {} tangents", primals.size(), tangents.size()));
  std::unordered_map<const Node*, Tensor> tangent;
  for (size_t i = 0; i < primals.size(); ++i) {
    const Tensor &p = primals[i], &t = tangents[i];
    if (!p.defined() || !t.defined()) throw Error(fmt::format("[jvp] primal or tangent {} is an empty Tensor", i));
    if (p.shape() != t.shape() || p.dtype() != t.dtype())
      throw Error(fmt::format("[jvp] tangent {} is {} but its primal is {}", i, describe(t.dtype(), t.shape()),
                              describe(p.dtype(), p.shape())));
    if (is_float(p.dtype())) tangent[p.node().get()] = t;
  }
  std::vector<NodePtr> roots;
  for (const Tensor& o : outputs) roots.push_back(o.node());
  const std::vector<const Node*> order = topological_order(roots);
  const auto owner = primitives::owners(roots, order);
  std::vector<Tensor> in_tangents;
  for (const Node* n : order) {
    if (tangent.count(n) || !is_float(n->dtype)) continue;
    in_tangents.clear();
    bool any = false;
    for (const NodePtr& in : n->inputs) {
      auto found = tangent.find(in.get());
      in_tangents.push_back(found != tangent.end() ? found->second : Tensor());
      any = any || found != tangent.end();
    }
    if (!any) continue;
    const primitives::Primitive& record = primitives::primitive(n->op);
    Tensor t = record.jvp.get()(owner.at(n), in_tangents);
    if (!t.defined()) continue;
    if (t.shape() != n->shape) t = broadcast_to(t, n->shape);
    tangent[n] = std::move(t);
  }
  std::vector<Tensor> out;
  for (const Tensor& o : outputs) {
    auto found = tangent.find(o.node().get());
    out.push_back(found != tangent.end() ? found->second : full(o.shape(), 0.0, o.dtype()));
  }
  return out;
}

}  // namespace zephyr
