// The graph verifier: each node's own record re-checks it, so a graph built outside the ops
// (by a transform, a substitution or a test) is held to the same rules as one the DSL built.
#include <fmt/format.h>

#include "primitive.h"

namespace zephyr::primitives {
namespace {

// The first field `attrs` sets that the op does not declare, or nullptr.
const char* undeclared_field(unsigned declared, const Attrs& a) {
  if (!(declared & kAxes) && !a.axes.empty()) return "axes";
  if (!(declared & kStarts) && !a.starts.empty()) return "starts";
  if (!(declared & kStrides) && !a.strides.empty()) return "strides";
  if (!(declared & kPadding) && (!a.low.empty() || !a.high.empty() || !a.interior.empty())) return "padding";
  if (!(declared & kAxis) && a.axis != 0) return "axis";
  if (!(declared & kValue) && a.value.defined()) return "value";
  if (!(declared & kName) && !a.name.empty()) return "name";
  if (!(declared & kRule) && a.rule) return "rule";
  if (!(declared & kLoop) && a.loop) return "loop";
  return nullptr;
}

}  // namespace

}  // namespace zephyr::primitives

namespace zephyr {

void verify(const Function& fn) {
  using namespace primitives;
  for (const Node* n : topological_order(fn.results)) {
    const Primitive& record = primitive(n->op);
    if (const char* field = undeclared_field(record.attributes, n->attrs))
      fail_at(n->loc, mnemonic(n->op), fmt::format("[verify] carries a '{}' attribute the op does not have", field));
    for (const NodePtr& in : n->inputs) {
      if (!in) fail_at(n->loc, mnemonic(n->op), "[verify] has an empty operand");
      if (record.low_precision == LowPrecision::in_f32 && is_low_precision(in->dtype))
        fail_at(n->loc, mnemonic(n->op), fmt::format("[verify] computes in f32 but has a {} operand (the ops widen "
                                                     "bf16 and f16 first)", describe(in->dtype, in->shape)));
    }
    if (n->attrs.loop) verify(n->attrs.loop->body);  // the body's nodes are held to the same rules
    NodeType type = record.infer.get()(Call{n->op, n->inputs, n->attrs, n->loc, {n->dtype, n->shape}});
    if (type.dtype != n->dtype || type.shape != n->shape)
      fail_at(n->loc, mnemonic(n->op), fmt::format("[verify] its rule gives {} but the node is {}",
                                                   describe(type.dtype, type.shape), describe(n->dtype, n->shape)));
  }
}

}  // namespace zephyr
