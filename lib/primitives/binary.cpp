// Binary elementwise primitives with numpy broadcasting: arithmetic, bitwise and comparisons.
// On integers, arithmetic wraps as two's complement and division truncates, as the lowering's
// arith ops do.
#include <algorithm>
#include <cstdint>

#include "host.h"
#include "rules.h"

namespace zephyr::primitives::records {
namespace {

using Grads = std::vector<Tensor>;

enum class Operands { numbers, floats, integers, comparable };

NodeType binary_type(const Call& c, Operands kind) {
  expect_operands(c, 2);
  const char* what = mnemonic(c.op);
  const Tensor a(c.inputs[0]), b(c.inputs[1]);
  if (a.dtype() != b.dtype())
    fail_at(c.loc, what, fmt::format("operand dtypes differ: {} and {} (use cast)", detail::operand(a), detail::operand(b)));
  if (kind != Operands::comparable && a.dtype() == DType::bool_)
    fail_at(c.loc, what, "arithmetic on bool operands; cast them first");
  if (kind == Operands::floats && !is_float(a.dtype()))
    fail_at(c.loc, what, "needs float operands, got " + describe(a.dtype(), a.shape()));
  if (kind == Operands::integers && !is_integer(a.dtype()))
    fail_at(c.loc, what, fmt::format("needs integer operands, got {} and {}", describe(a.dtype(), a.shape()),
                                     describe(b.dtype(), b.shape())));
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  for (size_t i = 1; i <= std::min(sa.size(), sb.size()); ++i)  // from the last axis, as broadcasting aligns
    if (sa[sa.size() - i] != sb[sb.size() - i] && sa[sa.size() - i] != 1 && sb[sb.size() - i] != 1)
      fail_at(c.loc, what, fmt::format("{} and {} do not broadcast (axis -{}: {} vs {})", detail::operand(a),
                                       detail::operand(b), i, sa[sa.size() - i], sb[sb.size() - i]));
  Shape shape = broadcast_shapes(sa, sb, what, c.loc);
  return {kind == Operands::comparable ? DType::bool_ : a.dtype(), std::move(shape)};
}
constexpr auto numbers = [](const Call& c) { return binary_type(c, Operands::numbers); };
constexpr auto floats = [](const Call& c) { return binary_type(c, Operands::floats); };
constexpr auto integers = [](const Call& c) { return binary_type(c, Operands::integers); };
constexpr auto comparable = [](const Call& c) { return binary_type(c, Operands::comparable); };

template <class F>
Array map2(const Node& n, std::span<const Array> in, F f) {
  return host::map<2>(n, in, f);
}

// Integer results are formed in 64 bits (exact for i32 operands) and wrapped by the interpreter.
int64_t whole(double v) { return static_cast<int64_t>(v); }

// The cotangent goes to the first operand where `first` holds, else to the second.
Grads route(const NodePtr& n, const Tensor& g, const Tensor& first) {
  Tensor zero = full({}, 0.0, g.dtype());
  return {unbroadcast(where(first, g, zero), n->inputs[0]->shape), unbroadcast(where(first, zero, g), n->inputs[1]->shape)};
}

}  // namespace

extern const Primitive Add{
    .attributes = kNoAttrs, .elementwise = true, .low_precision = LowPrecision::in_f32, .infer = numbers,
    .vjp = [](const NodePtr& n, const Tensor& g) {
      return Grads{unbroadcast(g, n->inputs[0]->shape), unbroadcast(g, n->inputs[1]->shape)};
    },
    .jvp = [](const NodePtr&, std::span<const Tensor> t) {
      if (!t[0].defined()) return t[1];
      return t[1].defined() ? t[0] + t[1] : t[0];
    }, .batch = elementwise_batch,
    .evaluate = [](const Node& n, std::span<const Array> in) { return map2(n, in, [](double a, double b) { return a + b; }); },
};

extern const Primitive Sub{
    .attributes = kNoAttrs, .elementwise = true, .low_precision = LowPrecision::in_f32, .infer = numbers,
    .vjp = [](const NodePtr& n, const Tensor& g) {
      return Grads{unbroadcast(g, n->inputs[0]->shape), unbroadcast(neg(g), n->inputs[1]->shape)};
    },
    .jvp = [](const NodePtr&, std::span<const Tensor> t) {
      if (!t[0].defined()) return neg(t[1]);
      return t[1].defined() ? t[0] - t[1] : t[0];
    }, .batch = elementwise_batch,
    .evaluate = [](const Node& n, std::span<const Array> in) { return map2(n, in, [](double a, double b) { return a - b; }); },
};

extern const Primitive Mul{
    .attributes = kNoAttrs, .elementwise = true, .low_precision = LowPrecision::in_f32, .infer = numbers,
    .vjp = [](const NodePtr& n, const Tensor& g) {
      return Grads{unbroadcast(g * input(n, 1), n->inputs[0]->shape), unbroadcast(g * input(n, 0), n->inputs[1]->shape)};
    },
    .jvp = [](const NodePtr& n, std::span<const Tensor> t) {
      Tensor a = input(n, 0), b = input(n, 1);
      if (!t[0].defined()) return a * t[1];
      return t[1].defined() ? t[0] * b + a * t[1] : t[0] * b;
    }, .batch = elementwise_batch,
    .evaluate = [](const Node& n, std::span<const Array> in) {
      if (is_float(n.dtype)) return map2(n, in, [](double a, double b) { return a * b; });
      const DType d = n.dtype;
      return map2(n, in, [d](double a, double b) {
        return host::wrap_bits(static_cast<uint64_t>(whole(a)) * static_cast<uint64_t>(whole(b)), d);
      });
    },
};

extern const Primitive Div{
    .attributes = kNoAttrs, .elementwise = true, .low_precision = LowPrecision::in_f32, .infer = numbers,
    .vjp = [](const NodePtr& n, const Tensor& g) {
      return Grads{unbroadcast(g / input(n, 1), n->inputs[0]->shape),
                   unbroadcast(neg(g) * Tensor(n) / input(n, 1), n->inputs[1]->shape)};
    },
    .jvp = [](const NodePtr& n, std::span<const Tensor> t) {
      Tensor b = input(n, 1), by_b = t[0].defined() ? t[0] / b : Tensor();
      if (!t[1].defined()) return by_b;
      Tensor d = neg(t[1]) * Tensor(n) / b;
      return by_b.defined() ? by_b + d : d;
    }, .batch = elementwise_batch,
    .evaluate = [](const Node& n, std::span<const Array> in) {
      if (is_float(n.dtype)) return map2(n, in, [](double a, double b) { return a / b; });
      // Truncating, as arith.divsi; x / 0 is 0 and MIN / -1 wraps to MIN, as the lowering says.
      return map2(n, in, [](double a, double b) {
        if (b == 0) return 0.0;
        if (b == -1) return whole(a) == INT64_MIN ? a : -a;  // the interpreter wraps -MIN to MIN
        return static_cast<double>(whole(a) / whole(b));
      });
    },
};

extern const Primitive Pow{
    .attributes = kNoAttrs, .elementwise = true, .low_precision = LowPrecision::in_f32, .infer = floats,
    .vjp = [](const NodePtr& n, const Tensor& g) {
      Tensor x = input(n, 0), p = input(n, 1);
      return Grads{unbroadcast(g * p * pow(x, p - 1.0), n->inputs[0]->shape),
                   unbroadcast(g * Tensor(n) * log(x), n->inputs[1]->shape)};
    },
    .jvp = [](const NodePtr& n, std::span<const Tensor> t) {
      Tensor x = input(n, 0), p = input(n, 1);
      Tensor by_x = t[0].defined() ? t[0] * p * pow(x, p - 1.0) : Tensor();
      if (!t[1].defined()) return by_x;
      Tensor by_p = t[1] * Tensor(n) * log(x);
      return by_x.defined() ? by_x + by_p : by_p;
    }, .batch = elementwise_batch,
    .evaluate = [](const Node& n, std::span<const Array> in) {
      return map2(n, in, [](double a, double b) { return std::pow(a, b); });
    },
};

// NaN wins, as arith.maximumf / minimumf; ties go to the first operand in the VJP.
extern const Primitive Maximum{
    .attributes = kNoAttrs, .elementwise = true, .low_precision = LowPrecision::in_f32, .infer = numbers,
    .vjp = [](const NodePtr& n, const Tensor& g) { return route(n, g, input(n, 0) >= input(n, 1)); },
    .jvp = [](const NodePtr& n, std::span<const Tensor> t) {
      return where(input(n, 0) >= input(n, 1), tangent(n, t, 0), tangent(n, t, 1));
    }, .batch = elementwise_batch,
    .evaluate = [](const Node& n, std::span<const Array> in) {
      return map2(n, in, [](double a, double b) { return std::isnan(a) || std::isnan(b) ? NAN : std::max(a, b); });
    },
};

extern const Primitive Minimum{
    .attributes = kNoAttrs, .elementwise = true, .low_precision = LowPrecision::in_f32, .infer = numbers,
    .vjp = [](const NodePtr& n, const Tensor& g) { return route(n, g, input(n, 0) <= input(n, 1)); },
    .jvp = [](const NodePtr& n, std::span<const Tensor> t) {
      return where(input(n, 0) <= input(n, 1), tangent(n, t, 0), tangent(n, t, 1));
    }, .batch = elementwise_batch,
    .evaluate = [](const Node& n, std::span<const Array> in) {
      return map2(n, in, [](double a, double b) { return std::isnan(a) || std::isnan(b) ? NAN : std::min(a, b); });
    },
};

// ---- Bitwise on integers (i32: what counter-based random numbers are made of) -----------------
// In 64 bits; the interpreter wraps the result to the node's width.
namespace {
uint64_t bits(double v) { return static_cast<uint64_t>(static_cast<int64_t>(v)); }
uint64_t mask(DType d) { return host::width(d) == 64 ? ~0ull : (1ull << host::width(d)) - 1; }
}  // namespace

extern const Primitive BitXor{
    .attributes = kNoAttrs, .elementwise = true, .low_precision = LowPrecision::in_f32, .infer = integers, .vjp = no_gradient,
    .jvp = no_tangent, .batch = elementwise_batch,
    .evaluate = [](const Node& n, std::span<const Array> in) {
      const DType d = n.dtype;
      return map2(n, in, [d](double a, double b) { return host::wrap_bits(bits(a) ^ bits(b), d); });
    },
};

extern const Primitive BitOr{
    .attributes = kNoAttrs, .elementwise = true, .low_precision = LowPrecision::in_f32, .infer = integers, .vjp = no_gradient,
    .jvp = no_tangent, .batch = elementwise_batch,
    .evaluate = [](const Node& n, std::span<const Array> in) {
      const DType d = n.dtype;
      return map2(n, in, [d](double a, double b) { return host::wrap_bits(bits(a) | bits(b), d); });
    },
};

// Counts outside [0, 32) are poison in the lowering (the builders refuse them); 0 here.
extern const Primitive ShiftLeft{
    .attributes = kNoAttrs, .elementwise = true, .low_precision = LowPrecision::in_f32, .infer = integers, .vjp = no_gradient,
    .jvp = no_tangent, .batch = elementwise_batch,
    .evaluate = [](const Node& n, std::span<const Array> in) {
      const DType d = n.dtype;
      const int w = host::width(d);
      return map2(n, in, [d, w](double a, double b) { return b < 0 || b >= w ? 0.0 : host::wrap_bits(bits(a) << bits(b), d); });
    },
};

extern const Primitive ShiftRightLogical{
    .attributes = kNoAttrs, .elementwise = true, .low_precision = LowPrecision::in_f32, .infer = integers, .vjp = no_gradient,
    .jvp = no_tangent, .batch = elementwise_batch,
    .evaluate = [](const Node& n, std::span<const Array> in) {
      const DType d = n.dtype;
      const int w = host::width(d);
      const uint64_t m = mask(d);
      return map2(n, in, [d, w, m](double a, double b) {
        return b < 0 || b >= w ? 0.0 : host::wrap_bits((bits(a) & m) >> bits(b), d);
      });
    },
};

// ---- Comparisons: bool results, no gradient; ordered (false on NaN) except not_equal ---------
#define ZEPHYR_COMPARISON(kind, expr)                                                                \
  extern const Primitive kind{                                                                       \
      .attributes = kNoAttrs, .elementwise = true, .low_precision = LowPrecision::in_f32, .infer = comparable, .vjp = no_gradient,          \
      .jvp = no_tangent, .batch = elementwise_batch,                                                           \
      .evaluate = [](const Node& n, std::span<const Array> in) {                                     \
        return map2(n, in, [](double a, double b) { return (expr) ? 1.0 : 0.0; });                   \
      },                                                                                             \
  };
ZEPHYR_COMPARISON(Equal, a == b)
ZEPHYR_COMPARISON(NotEqual, a != b)
ZEPHYR_COMPARISON(Less, a < b)
ZEPHYR_COMPARISON(LessEqual, a <= b)
ZEPHYR_COMPARISON(Greater, a > b)
ZEPHYR_COMPARISON(GreaterEqual, a >= b)
#undef ZEPHYR_COMPARISON

}  // namespace zephyr::primitives::records
