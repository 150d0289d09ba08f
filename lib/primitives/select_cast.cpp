// Selection, conversion and stop_gradient.
#include "host.h"
#include "rules.h"

namespace zephyr::primitives::records {

extern const Primitive Select{
    .attributes = kNoAttrs,
    .elementwise = true, .low_precision = LowPrecision::as_stored,
    .infer = [](const Call& c) {
      expect_operands(c, 3);
      const Node &cond = operand_node(c, 0), &a = operand_node(c, 1), &b = operand_node(c, 2);
      if (cond.dtype != DType::bool_)
        fail_at(c.loc, "where", "condition must be bool, got " + describe(cond.dtype, cond.shape));
      if (a.dtype != b.dtype)
        fail_at(c.loc, "where", fmt::format("branch dtypes differ: {} and {}", describe(a.dtype, a.shape),
                                            describe(b.dtype, b.shape)));
      Shape shape = broadcast_shapes(broadcast_shapes(cond.shape, a.shape, "where", c.loc), b.shape, "where", c.loc);
      return NodeType{a.dtype, std::move(shape)};
    },
    .vjp = [](const NodePtr& n, const Tensor& g) {
      Tensor zero = full({}, 0.0, g.dtype()), cond = input(n, 0);
      return std::vector<Tensor>{Tensor(), unbroadcast(where(cond, g, zero), n->inputs[1]->shape),
                                 unbroadcast(where(cond, zero, g), n->inputs[2]->shape)};
    },
    .jvp = [](const NodePtr& n, std::span<const Tensor> t) {
      return where(input(n, 0), tangent(n, t, 1), tangent(n, t, 2));
    },
    .batch = elementwise_batch,
    .evaluate = [](const Node& n, std::span<const Array> in) {
      return host::map<3>(n, in, [](double c, double a, double b) { return c != 0 ? a : b; });
    },
};

// To bool: x != 0. Float to integer truncates toward zero (out of range is undefined, as in
// arith.fptosi); narrowing floats round to nearest (the interpreter's rounding to the dtype).
extern const Primitive Cast{
    .attributes = kNoAttrs,
    .elementwise = true, .low_precision = LowPrecision::as_stored,
    .infer = [](const Call& c) {
      expect_operands(c, 1);
      return NodeType{c.declared.dtype, operand_node(c, 0).shape};
    },
    .vjp = [](const NodePtr& n, const Tensor& g) {
      if (!is_float(n->dtype) || !is_float(n->inputs[0]->dtype)) return std::vector<Tensor>{};
      return std::vector<Tensor>{cast(g, n->inputs[0]->dtype)};
    },
    .jvp = [](const NodePtr& n, std::span<const Tensor> t) {
      if (!is_float(n->dtype) || !is_float(n->inputs[0]->dtype)) return Tensor();
      return cast(t[0], n->dtype);
    },
    .batch = elementwise_batch,
    .evaluate = [](const Node& n, std::span<const Array> in) {
      if (n.dtype == DType::bool_) return host::map<1>(n, in, [](double x) { return x != 0 ? 1.0 : 0.0; });
      if (!is_float(n.dtype)) return host::map<1>(n, in, [](double x) { return std::trunc(x); });
      return host::map<1>(n, in, [](double x) { return x; });
    },
};

// The value passes; the gradient does not (as jax.lax.stop_gradient).
extern const Primitive StopGradient{
    .attributes = kNoAttrs,
    .elementwise = true, .low_precision = LowPrecision::as_stored,
    .infer = [](const Call& c) {
      expect_operands(c, 1);
      const Node& x = operand_node(c, 0);
      return NodeType{x.dtype, x.shape};
    },
    .vjp = no_gradient,
    .jvp = no_tangent,
    .batch = elementwise_batch,
    .evaluate = [](const Node& n, std::span<const Array> in) { return host::map<1>(n, in, [](double x) { return x; }); },
};

}  // namespace zephyr::primitives::records
