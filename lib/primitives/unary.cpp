// Unary elementwise primitives. VJP rules are written in the DSL, from primitives.
#include "host.h"
#include "rules.h"

namespace zephyr::primitives::records {
namespace {

NodeType unary_type(const Call& c, bool float_only) {
  expect_operands(c, 1);
  const Node& x = operand_node(c, 0);
  if (float_only && !is_float(x.dtype))
    fail_at(c.loc, mnemonic(c.op), "needs a float operand, got " + detail::operand(Tensor(c.inputs[0])));
  if (x.dtype == DType::bool_) fail_at(c.loc, mnemonic(c.op), "arithmetic on a bool operand; cast it first");
  return {x.dtype, x.shape};
}
constexpr auto any_number = [](const Call& c) { return unary_type(c, false); };
constexpr auto floats_only = [](const Call& c) { return unary_type(c, true); };

template <class F>
Array map1(const Node& n, std::span<const Array> in, F f) {
  return host::map<1>(n, in, f);
}

using Grads = std::vector<Tensor>;

}  // namespace

extern const Primitive Neg{
    .attributes = kNoAttrs, .elementwise = true, .low_precision = LowPrecision::in_f32, .infer = any_number,
    .vjp = [](const NodePtr&, const Tensor& g) { return Grads{neg(g)}; },
    .jvp = diagonal_jvp, .batch = elementwise_batch,
    .evaluate = [](const Node& n, std::span<const Array> in) { return map1(n, in, [](double x) { return -x; }); },
};

extern const Primitive Abs{
    .attributes = kNoAttrs, .elementwise = true, .low_precision = LowPrecision::in_f32, .infer = any_number,
    .vjp = [](const NodePtr& n, const Tensor& g) { return Grads{where(input(n, 0) >= 0.0, g, neg(g))}; },
    .jvp = diagonal_jvp, .batch = elementwise_batch,
    .evaluate = [](const Node& n, std::span<const Array> in) { return map1(n, in, [](double x) { return std::fabs(x); }); },
};

extern const Primitive Exp{
    .attributes = kNoAttrs, .elementwise = true, .low_precision = LowPrecision::in_f32, .infer = floats_only,
    .vjp = [](const NodePtr& n, const Tensor& g) { return Grads{g * Tensor(n)}; },
    .jvp = diagonal_jvp, .batch = elementwise_batch,
    .evaluate = [](const Node& n, std::span<const Array> in) { return map1(n, in, [](double x) { return std::exp(x); }); },
};

extern const Primitive Log{
    .attributes = kNoAttrs, .elementwise = true, .low_precision = LowPrecision::in_f32, .infer = floats_only,
    .vjp = [](const NodePtr& n, const Tensor& g) { return Grads{g / input(n, 0)}; },
    .jvp = diagonal_jvp, .batch = elementwise_batch,
    .evaluate = [](const Node& n, std::span<const Array> in) { return map1(n, in, [](double x) { return std::log(x); }); },
};

extern const Primitive Tanh{
    .attributes = kNoAttrs, .elementwise = true, .low_precision = LowPrecision::in_f32, .infer = floats_only,
    .vjp = [](const NodePtr& n, const Tensor& g) {
      Tensor y(n);
      return Grads{g * (1.0 - y * y)};
    },
    .jvp = diagonal_jvp, .batch = elementwise_batch,
    .evaluate = [](const Node& n, std::span<const Array> in) { return map1(n, in, [](double x) { return std::tanh(x); }); },
};

extern const Primitive Sqrt{
    .attributes = kNoAttrs, .elementwise = true, .low_precision = LowPrecision::in_f32, .infer = floats_only,
    .vjp = [](const NodePtr& n, const Tensor& g) { return Grads{g * 0.5 / Tensor(n)}; },
    .jvp = diagonal_jvp, .batch = elementwise_batch,
    .evaluate = [](const Node& n, std::span<const Array> in) { return map1(n, in, [](double x) { return std::sqrt(x); }); },
};

extern const Primitive Rsqrt{
    .attributes = kNoAttrs, .elementwise = true, .low_precision = LowPrecision::in_f32, .infer = floats_only,
    .vjp = [](const NodePtr& n, const Tensor& g) { return Grads{g * -0.5 * Tensor(n) / input(n, 0)}; },
    .jvp = diagonal_jvp, .batch = elementwise_batch,
    .evaluate = [](const Node& n, std::span<const Array> in) {
      return map1(n, in, [](double x) { return 1.0 / std::sqrt(x); });
    },
};

extern const Primitive Sin{
    .attributes = kNoAttrs, .elementwise = true, .low_precision = LowPrecision::in_f32, .infer = floats_only,
    .vjp = [](const NodePtr& n, const Tensor& g) { return Grads{g * cos(input(n, 0))}; },
    .jvp = diagonal_jvp, .batch = elementwise_batch,
    .evaluate = [](const Node& n, std::span<const Array> in) { return map1(n, in, [](double x) { return std::sin(x); }); },
};

extern const Primitive Cos{
    .attributes = kNoAttrs, .elementwise = true, .low_precision = LowPrecision::in_f32, .infer = floats_only,
    .vjp = [](const NodePtr& n, const Tensor& g) { return Grads{neg(g) * sin(input(n, 0))}; },
    .jvp = diagonal_jvp, .batch = elementwise_batch,
    .evaluate = [](const Node& n, std::span<const Array> in) { return map1(n, in, [](double x) { return std::cos(x); }); },
};

}  // namespace zephyr::primitives::records
