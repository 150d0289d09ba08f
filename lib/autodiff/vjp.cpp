// The reverse sweep: each node's VJP rule (in its primitive record, lib/primitives/) turns the
// cotangent of its result into cotangents of its inputs, summed where a value fans out.
#include "zephyr/autodiff.h"

#include <unordered_map>

#include "../primitives/primitive.h"
#include "zephyr/ops.h"

namespace zephyr {

std::vector<Tensor> vjp(const Tensor& output, const Tensor& seed, const std::vector<Tensor>& wrt) {
  std::unordered_map<const Node*, Tensor> cotangent;
  cotangent[output.node().get()] = seed;
  std::vector<const Node*> order = topological_order({output.node()});
  const auto owner = primitives::owners({output.node()}, order);
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const Node* n = *it;
    auto found = cotangent.find(n);
    if (found == cotangent.end() || !is_float(n->dtype)) continue;
    std::vector<Tensor> grads = primitives::primitive(n->op).vjp.get()(owner.at(n), found->second);
    for (size_t i = 0; i < grads.size(); ++i) {
      if (!grads[i].defined()) continue;
      const Node* input = n->inputs[i].get();
      auto [slot, fresh] = cotangent.try_emplace(input, grads[i]);
      if (!fresh) slot->second = add(slot->second, grads[i]);
    }
  }
  std::vector<Tensor> out;
  for (const Tensor& w : wrt) {
    auto found = cotangent.find(w.node().get());
    out.push_back(found != cotangent.end() ? found->second : full(w.shape(), 0.0, w.dtype()));
  }
  return out;
}

}  // namespace zephyr
