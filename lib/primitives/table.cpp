// The table of primitive records, one per line of op_kinds.def. Each record is defined beside
// its group's others (lib/primitives/<group>.cpp); a kind whose record is missing fails the link
// with "undefined reference to zephyr::primitives::records::<Kind>".
#include <fmt/format.h>

#include <optional>

#include "primitive.h"
#include "zephyr/custom_vjp.h"

namespace zephyr::primitives {
namespace records {
#define ZEPHYR_OP(kind, mnemonic) extern const Primitive kind;
#include "zephyr/op_kinds.def"
#undef ZEPHYR_OP
}  // namespace records

namespace {
const Primitive* const kRecords[] = {
#define ZEPHYR_OP(kind, mnemonic) &records::kind,
#include "zephyr/op_kinds.def"
#undef ZEPHYR_OP
};
}  // namespace

const Primitive& primitive(OpKind op) { return *kRecords[static_cast<size_t>(op)]; }

std::unordered_map<const Node*, NodePtr> owners(const std::vector<NodePtr>& roots,
                                                const std::vector<const Node*>& order) {
  std::unordered_map<const Node*, NodePtr> owner;
  for (const NodePtr& r : roots) owner.emplace(r.get(), r);
  for (const Node* n : order)
    for (const NodePtr& in : n->inputs) owner.emplace(in.get(), in);
  return owner;
}

namespace {

// The one low-precision float dtype among `inputs` if every float input has it, else nullopt
// (no low-precision input, or a mix such as bf16 with f32, which the shape rule refuses).
std::optional<DType> narrow_floats(const std::vector<NodePtr>& inputs) {
  std::optional<DType> narrow;
  for (const NodePtr& in : inputs) {
    if (!is_float(in->dtype)) continue;
    if (!is_low_precision(in->dtype) || (narrow && *narrow != in->dtype)) return std::nullopt;
    narrow = in->dtype;
  }
  return narrow;
}

Tensor cast_node(const NodePtr& x, DType to, const SourceLoc& loc) {
  return build(OpKind::Cast, {x}, {}, loc, {to, x->shape});
}

}  // namespace

Tensor build(OpKind op, std::vector<NodePtr> inputs, Attrs attrs, const SourceLoc& loc, NodeType declared) {
  if (primitive(op).low_precision == LowPrecision::in_f32)
    if (const std::optional<DType> narrow = narrow_floats(inputs)) {
      // bf16 and f16 are computed in f32: widen, compute, round once at the end.
      for (NodePtr& in : inputs)
        if (in->dtype == *narrow) in = cast_node(in, DType::f32, loc).node();
      if (declared.dtype == *narrow) declared.dtype = DType::f32;
      Tensor wide = build(op, std::move(inputs), std::move(attrs), loc, std::move(declared));
      return is_float(wide.dtype()) ? cast_node(wide.node(), *narrow, loc) : wide;
    }
  NodeType type = primitive(op).infer.get()(Call{op, inputs, attrs, loc, std::move(declared)});
  return Tensor(make_node(op, type.dtype, std::move(type.shape), std::move(inputs), std::move(attrs), loc));
}

std::string print_attrs(OpKind op, const Attrs& a) {
  const unsigned fields = primitive(op).attributes;
  std::string out;
  if (fields & kAxes) out += fmt::format(" axes=[{}]", fmt::join(a.axes, ","));
  if (fields & kStarts) out += fmt::format(" starts=[{}]", fmt::join(a.starts, ","));
  if (fields & kStrides) out += fmt::format(" strides=[{}]", fmt::join(a.strides, ","));
  if (fields & kPadding)
    out += fmt::format(" low=[{}] high=[{}] interior=[{}]", fmt::join(a.low, ","), fmt::join(a.high, ","),
                       fmt::join(a.interior, ","));
  if (fields & kAxis) out += fmt::format(" axis={}", a.axis);
  if ((fields & kValue) && a.value.defined())
    out += a.value.size() == 1 ? fmt::format(" value={:g}", a.value.at(0))
                               : fmt::format(" value=dense<{}>", describe(a.value.dtype(), a.value.shape()));
  if (fields & kName) out += " " + a.name;
  if ((fields & kRule) && a.rule) out += " rule=" + a.rule->where.str();
  if ((fields & kLoop) && a.loop) {
    if (op == OpKind::Scan) out += fmt::format(" {}{}", a.loop->reverse ? "reverse " : "", a.loop->stacked ? "stacked" : "last");
    out += fmt::format(" body=[{} nodes]", topological_order(a.loop->body.results).size());
  }
  return out;
}

}  // namespace zephyr::primitives
