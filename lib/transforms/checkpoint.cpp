// z::checkpoint: f's result as a custom-gradient node (lib/primitives/custom.cpp) whose rule
// replays f's own nodes on its saved inputs, each behind an `after` edge on the cotangent, and
// differentiates the replay. The forward pass's intermediates are then read by nothing in the
// backward pass, so the buffer plan frees them as the forward pass goes.
#include "zephyr/checkpoint.h"

#include <fmt/format.h>

#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "../core/node_log.h"
#include "../primitives/primitive.h"
#include "../primitives/region.h"
#include "zephyr/autodiff.h"
#include "zephyr/custom_vjp.h"

namespace zephyr::detail {
namespace {

// What f computed, as nodes that can be replayed on other values: `reads` are the stand-ins for
// f's inputs, then the nodes from outside f that f's nodes read; `own` are the nodes that depend
// on them, in the order f made them.
struct Recipe {
  std::vector<NodePtr> reads;
  std::vector<NodePtr> own;
  NodePtr result;

  // f's result with reads[i] replaced by values[i].
  Tensor replay(const std::vector<Tensor>& values) const {
    std::unordered_map<const Node*, NodePtr> now;
    for (size_t i = 0; i < reads.size(); ++i) now[reads[i].get()] = values[i].node();
    for (const NodePtr& n : own) {
      std::vector<NodePtr> inputs;
      for (const NodePtr& in : n->inputs) {
        auto it = now.find(in.get());
        inputs.push_back(it != now.end() ? it->second : in);
      }
      now[n.get()] = make_node(n->op, n->dtype, n->shape, std::move(inputs), n->attrs, n->loc);
    }
    return Tensor(now.at(result.get()));
  }
};

Tensor stand_in(const Tensor& x, size_t i, const SourceLoc& where) {
  return primitives::stand_in(x.dtype(), x.shape(), fmt::format("checkpoint/input{}", i), where);
}

}  // namespace

Tensor checkpointed(const std::vector<Tensor>& inputs, const std::function<Tensor(const std::vector<Tensor>&)>& call,
                    const SourceLoc& where) {
  std::vector<Tensor> stand_ins;
  for (size_t i = 0; i < inputs.size(); ++i) stand_ins.push_back(stand_in(inputs[i], i, where));
  auto recipe = std::make_shared<Recipe>();
  std::unordered_set<const Node*> depends;  // on a stand-in
  {
    NodeLog log;
    const Tensor result = call(stand_ins);
    if (!result.defined()) fail_at(where, "checkpoint", "the function returned an empty Tensor");
    recipe->result = result.node();
    for (const Tensor& s : stand_ins) {
      recipe->reads.push_back(s.node());
      depends.insert(s.node().get());
    }
    std::unordered_set<const Node*> read;
    for (const NodePtr& n : log.nodes()) {
      bool own = false;
      for (const NodePtr& in : n->inputs) own = own || depends.count(in.get());
      if (!own) continue;
      recipe->own.push_back(n);
      depends.insert(n.get());
      // Literals are replayed where they are; everything else f reads is saved like an input
      // (parameters among them, so their gradients flow through the rule).
      for (const NodePtr& in : n->inputs)
        if (!depends.count(in.get()) && in->op != OpKind::Constant && read.insert(in.get()).second)
          recipe->reads.push_back(in);
    }
  }
  // A result that reads none of f's inputs is an ordinary value: nothing to recompute.
  if (!depends.count(recipe->result.get())) return Tensor(recipe->result);

  std::vector<Tensor> saved = inputs;  // the node's operands: f's inputs, then what else it reads
  for (size_t i = inputs.size(); i < recipe->reads.size(); ++i) saved.push_back(Tensor(recipe->reads[i]));
  const Tensor value = recipe->replay(saved);

  auto rule = std::make_shared<CustomRule>();
  rule->where = where;
  rule->jvp_through_value = true;
  rule->vjp = [recipe, where](const std::vector<Tensor>& operands, const Tensor& cotangent) {
    std::vector<Tensor> delayed, wrt;
    for (const Tensor& x : operands) {
      delayed.push_back(primitives::build(OpKind::After, {x.node(), cotangent.node()}, {}, where));
      if (is_float(x.dtype())) wrt.push_back(delayed.back());
    }
    const std::vector<Tensor> grads = vjp(recipe->replay(delayed), cotangent, wrt);
    std::vector<Tensor> out;
    size_t next = 0;
    for (const Tensor& x : operands) out.push_back(is_float(x.dtype()) ? grads[next++] : Tensor());
    return out;
  };
  return with_custom_vjp(saved, value, std::move(rule));
}

}  // namespace zephyr::detail
