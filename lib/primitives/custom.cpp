// A function with a gradient of the user's own (z::custom_vjp, and z::checkpoint's recomputing
// one). The node's operands are the function's inputs and, last, its result, which is the node's
// value; its VJP is the rule, so nothing flows back into the function's own graph. Beside it,
// `after`, the ordering edge that checkpoint's rule puts in front of its recomputation.
#include "zephyr/custom_vjp.h"

#include "region.h"
#include "rules.h"
#include "zephyr/vmap.h"

namespace zephyr {
namespace primitives {
namespace {

const CustomRule& rule_of(const Node& n) { return *n.attrs.rule; }

Shape example_shape(const Tensor& batched) { return Shape(batched.shape().begin() + 1, batched.shape().end()); }

// The rule of a batch of custom_vjp calls: the per-example rule, batched by the vmap sweep.
std::shared_ptr<const CustomRule> batched_rule(std::shared_ptr<const CustomRule> per_example) {
  auto rule = std::make_shared<CustomRule>();
  rule->where = per_example->where;
  rule->jvp_through_value = per_example->jvp_through_value;
  rule->vjp = [per_example](const std::vector<Tensor>& inputs, const Tensor& cotangent) {
    std::vector<Tensor> examples, batched = inputs;
    for (size_t i = 0; i < inputs.size(); ++i)
      examples.push_back(stand_in(inputs[i].dtype(), example_shape(inputs[i]), fmt::format("custom_vjp/input{}", i),
                                     per_example->where));
    const Tensor g = stand_in(cotangent.dtype(), example_shape(cotangent), "custom_vjp/cotangent", per_example->where);
    const std::vector<Tensor> per = per_example->vjp(examples, g);
    examples.push_back(g);
    batched.push_back(cotangent);
    std::vector<Tensor> defined;
    for (const Tensor& c : per)
      if (c.defined()) defined.push_back(c);
    const std::vector<Tensor> done = defined.empty() ? defined : batch(defined, examples, batched);
    std::vector<Tensor> out;
    size_t next = 0;
    for (const Tensor& c : per) out.push_back(c.defined() ? done[next++] : Tensor());
    return out;
  };
  return rule;
}

}  // namespace

namespace records {

extern const Primitive CustomVjp{
    .attributes = kRule,
    .elementwise = false, .low_precision = LowPrecision::as_stored,
    .infer = [](const Call& c) {
      if (c.inputs.empty()) fail_at(c.loc, "custom_vjp", "needs the function's result as its last operand");
      if (!c.attrs.rule || !c.attrs.rule->vjp) fail_at(c.loc, "custom_vjp", "has no gradient rule");
      const Node& value = *c.inputs.back();
      return NodeType{value.dtype, value.shape};
    },
    .vjp = [](const NodePtr& n, const Tensor& g) {
      const CustomRule& rule = rule_of(*n);
      const std::vector<Tensor> inputs(n->inputs.begin(), n->inputs.end() - 1);
      std::vector<Tensor> cotangents = rule.vjp(inputs, g);
      if (cotangents.size() != inputs.size())
        fail_at(rule.where, "custom_vjp", fmt::format("the backward function returned {} cotangents for {} inputs",
                                                      cotangents.size(), inputs.size()));
      for (size_t i = 0; i < inputs.size(); ++i) {
        const Tensor& c = cotangents[i];
        if (c.defined() && (c.shape() != inputs[i].shape() || c.dtype() != inputs[i].dtype()))
          fail_at(rule.where, "custom_vjp", fmt::format("the backward function's cotangent {} is {}, but input {} is {}",
                                                        i, describe(c.dtype(), c.shape()), i,
                                                        describe(inputs[i].dtype(), inputs[i].shape())));
      }
      cotangents.push_back(Tensor());  // the function's own graph gets no gradient
      return cotangents;
    },
    .jvp = [](const NodePtr& n, std::span<const Tensor> t) -> Tensor {
      if (rule_of(*n).jvp_through_value) return tangent(n, t, t.size() - 1);
      fail_at(rule_of(*n).where, "custom_vjp",
              "has no forward-mode rule: jvp, hvp and hessian cannot pass through a function with a custom VJP "
              "(as in JAX)");
    },
    .batch = [](const NodePtr& n, std::span<const Tensor> in, const std::vector<bool>& batched) {
      // Every input batched (a shared one broadcast, so its cotangents sum back over examples).
      std::vector<Tensor> inputs;
      for (size_t i = 0; i + 1 < in.size(); ++i) inputs.push_back(batched_input(in, batched, i));
      return detail::with_custom_vjp(inputs, batched_input(in, batched, in.size() - 1), batched_rule(n->attrs.rule));
    },
    .evaluate = [](const Node&, std::span<const Array> in) { return in.back().clone(); },
};

// An ordering edge and nothing else: the value is operand 0's, and the gradient flows to it alone.
extern const Primitive After{
    .attributes = kNoAttrs,
    .elementwise = false, .low_precision = LowPrecision::as_stored,
    .infer = [](const Call& c) {
      expect_operands(c, 2);
      const Node& x = operand_node(c, 0);
      return NodeType{x.dtype, x.shape};
    },
    .vjp = [](const NodePtr&, const Tensor& g) { return std::vector<Tensor>{g, Tensor()}; },
    .jvp = [](const NodePtr& n, std::span<const Tensor> t) { return tangent(n, t, 0); },
    .batch = [](const NodePtr& n, std::span<const Tensor> in, const std::vector<bool>& batched) {
      return build(OpKind::After, {batched_input(in, batched, 0).node(), in[1].node()}, {}, n->loc);
    },
    .evaluate = [](const Node&, std::span<const Array> in) { return in[0].clone(); },
};

}  // namespace records
}  // namespace primitives

namespace detail {

Tensor with_custom_vjp(const std::vector<Tensor>& inputs, const Tensor& value, std::shared_ptr<const CustomRule> rule) {
  if (!value.defined()) fail_at(rule->where, "custom_vjp", "the function returned an empty Tensor");
  std::vector<NodePtr> operands;
  for (const Tensor& x : inputs) operands.push_back(x.node());
  operands.push_back(value.node());
  Attrs attrs;
  attrs.rule = std::move(rule);
  const SourceLoc where = attrs.rule->where;
  return primitives::build(OpKind::CustomVjp, std::move(operands), std::move(attrs), where);
}

}  // namespace detail
}  // namespace zephyr
