// Shape rules of the elementwise primitives (unary, binary, compare, select, cast), plus the
// operator overloads and the elementwise composites built from them.
#include <fmt/format.h>

#include <cmath>

#include "../primitives/primitive.h"
#include "zephyr/custom_vjp.h"
#include "zephyr/ops.h"
#include "zephyr/params.h"

namespace zephyr {
namespace {

// The records' shape rules check operands (lib/primitives/unary.cpp and binary.cpp).
Tensor unary(OpKind op, const Tensor& x, const SourceLoc& loc) { return primitives::build(op, {x.node()}, {}, loc); }
Tensor binary(OpKind op, const Tensor& a, const Tensor& b, const SourceLoc& loc) {
  return primitives::build(op, {a.node(), b.node()}, {}, loc);
}

// A Python-style "weak" scalar: it takes the dtype of the tensor it meets.
Tensor weak(double value, const Tensor& like, const SourceLoc& loc) {
  Attrs attrs;
  attrs.value = Array::full({}, value, like.dtype());
  return primitives::build(OpKind::Constant, {}, std::move(attrs), loc, {like.dtype(), {}});
}

}  // namespace

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op, const SourceLoc& loc) {
  size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      fail_at(loc, op, fmt::format("shapes {} and {} do not broadcast (axis {}: {} vs {})", to_string(a),
                                   to_string(b), static_cast<int64_t>(i) - static_cast<int64_t>(rank), da, db));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

#define ZEPHYR_BINARY(fn, kind) \
  Tensor fn(const Tensor& a, const Tensor& b, Loc loc) { return binary(OpKind::kind, a, b, SourceLoc::from(loc)); }
ZEPHYR_BINARY(add, Add)
ZEPHYR_BINARY(sub, Sub)
ZEPHYR_BINARY(mul, Mul)
ZEPHYR_BINARY(div, Div)
ZEPHYR_BINARY(maximum, Maximum)
ZEPHYR_BINARY(minimum, Minimum)
#undef ZEPHYR_BINARY

Tensor pow(const Tensor& a, const Tensor& b, Loc loc) { return binary(OpKind::Pow, a, b, SourceLoc::from(loc)); }
Tensor pow(const Tensor& a, double exponent, Loc loc) {
  SourceLoc where = SourceLoc::from(loc);
  if (exponent == 2.0) return binary(OpKind::Mul, a, a, where);
  return pow(a, weak(exponent, a, where), loc);
}

#define ZEPHYR_COMPARE(fn, kind) \
  Tensor fn(const Tensor& a, const Tensor& b, Loc loc) { return binary(OpKind::kind, a, b, SourceLoc::from(loc)); }
ZEPHYR_COMPARE(equal, Equal)
ZEPHYR_COMPARE(not_equal, NotEqual)
ZEPHYR_COMPARE(less, Less)
ZEPHYR_COMPARE(less_equal, LessEqual)
ZEPHYR_COMPARE(greater, Greater)
ZEPHYR_COMPARE(greater_equal, GreaterEqual)
#undef ZEPHYR_COMPARE

Tensor neg(const Tensor& x, Loc loc) { return unary(OpKind::Neg, x, SourceLoc::from(loc)); }
Tensor abs(const Tensor& x, Loc loc) { return unary(OpKind::Abs, x, SourceLoc::from(loc)); }
Tensor exp(const Tensor& x, Loc loc) { return unary(OpKind::Exp, x, SourceLoc::from(loc)); }
Tensor log(const Tensor& x, Loc loc) { return unary(OpKind::Log, x, SourceLoc::from(loc)); }
Tensor tanh(const Tensor& x, Loc loc) { return unary(OpKind::Tanh, x, SourceLoc::from(loc)); }
Tensor sqrt(const Tensor& x, Loc loc) { return unary(OpKind::Sqrt, x, SourceLoc::from(loc)); }
Tensor rsqrt(const Tensor& x, Loc loc) { return unary(OpKind::Rsqrt, x, SourceLoc::from(loc)); }
Tensor sin(const Tensor& x, Loc loc) { return unary(OpKind::Sin, x, SourceLoc::from(loc)); }
Tensor cos(const Tensor& x, Loc loc) { return unary(OpKind::Cos, x, SourceLoc::from(loc)); }

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b, Loc loc) {
  return primitives::build(OpKind::Select, {cond.node(), a.node(), b.node()}, {}, SourceLoc::from(loc));
}

Tensor cast(const Tensor& x, DType dtype, Loc loc) {
  if (x.dtype() == dtype) return x;
  return primitives::build(OpKind::Cast, {x.node()}, {}, SourceLoc::from(loc), {dtype, {}});
}

Tensor stop_gradient(const Tensor& x, Loc loc) {
  return primitives::build(OpKind::StopGradient, {x.node()}, {}, SourceLoc::from(loc));
}

namespace {
Tensor bitwise(OpKind op, const Tensor& a, const Tensor& b, const SourceLoc& loc) { return binary(op, a, b, loc); }
Tensor shift(OpKind op, const Tensor& x, int bits, const SourceLoc& loc) {
  if (bits < 0 || bits >= 32) fail_at(loc, mnemonic(op), fmt::format("shift count {} is outside [0, 32)", bits));
  return bitwise(op, x, weak(bits, x, loc), loc);
}
}  // namespace

Tensor bit_xor(const Tensor& a, const Tensor& b, Loc loc) { return bitwise(OpKind::BitXor, a, b, SourceLoc::from(loc)); }
Tensor bit_or(const Tensor& a, const Tensor& b, Loc loc) { return bitwise(OpKind::BitOr, a, b, SourceLoc::from(loc)); }
Tensor shift_left(const Tensor& x, int bits, Loc loc) { return shift(OpKind::ShiftLeft, x, bits, SourceLoc::from(loc)); }
Tensor shift_right_logical(const Tensor& x, int bits, Loc loc) {
  return shift(OpKind::ShiftRightLogical, x, bits, SourceLoc::from(loc));
}

// ---- Composites -----------------------------------------------------------------------------
Tensor square(const Tensor& x, Loc loc) { return mul(x, x, loc); }
Tensor sigmoid(const Tensor& x, Loc loc) {
  // 0.5 * (1 + tanh(x / 2)) is stable for large |x|, unlike 1 / (1 + exp(-x)) in f32.
  SourceLoc w = SourceLoc::from(loc);
  return mul(weak(0.5, x, w), add(weak(1, x, w), tanh(mul(x, weak(0.5, x, w), loc), loc), loc), loc);
}
namespace {
constexpr double kGeluCubic = 0.044715;
constexpr double kGeluScale = 0.7978845608028654;  // sqrt(2 / pi), as std::sqrt rounds it

// GELU's tanh argument, sqrt(2/pi)·(x + 0.044715·x³).
Tensor gelu_inner(const Tensor& x, Loc loc) {
  SourceLoc w = SourceLoc::from(loc);
  Tensor cube = mul(mul(x, x, loc), x, loc);
  return mul(weak(kGeluScale, x, w), add(x, mul(weak(kGeluCubic, x, w), cube, loc), loc), loc);
}

// d gelu / dx · dy from x alone: with t = tanh(u),
//   0.5·(1 + t) + 0.5·x·(1 − t²)·sqrt(2/pi)·(1 + 3·0.044715·x²).
Tensor gelu_vjp(const Tensor& x, const Tensor& dy, Loc loc) {
  SourceLoc w = SourceLoc::from(loc);
  Tensor t = tanh(gelu_inner(x, loc), loc);
  Tensor du = mul(weak(kGeluScale, x, w), add(weak(1, x, w), mul(weak(3 * kGeluCubic, x, w), mul(x, x, loc), loc), loc), loc);
  Tensor half = weak(0.5, x, w);
  Tensor slope = add(mul(half, add(weak(1, x, w), t, loc), loc),
                     mul(mul(mul(half, x, loc), sub(weak(1, x, w), mul(t, t, loc), loc), loc), du, loc), loc);
  return mul(dy, slope, loc);
}
}  // namespace

// The tanh form, as jax.nn.gelu(approximate=True) and PyTorch's approximate="tanh". Its gradient
// is written out and reads x alone: differentiated as a composite, the backward pass kept x², x³,
// the tanh and three products of them, each a stored array and a kernel of its own (a transformer
// MLP's GELU took five kernels forward and more backward); here the forward is one pass over x
// and the backward another, recomputing the tanh. Forward mode goes through the composite.
Tensor gelu(const Tensor& x, Loc loc) {
  SourceLoc w = SourceLoc::from(loc);
  Tensor value = mul(mul(weak(0.5, x, w), x, loc), add(weak(1, x, w), tanh(gelu_inner(x, loc), loc), loc), loc);
  auto rule = std::make_shared<CustomRule>();
  rule->where = w;
  rule->jvp_through_value = true;
  rule->vjp = [loc](const std::vector<Tensor>& in, const Tensor& dy) { return std::vector<Tensor>{gelu_vjp(in[0], dy, loc)}; };
  return detail::with_custom_vjp({x}, value, std::move(rule));
}

// x where x > 0, else 0; NaN stays NaN. The gradient is read from the output (y > 0 exactly where
// x > 0): as maximum(x, 0), the backward pass kept the pre-activation, so it was a stored array
// and the ReLU a kernel of its own; here the pre-activation is read once, in its product's loop
// (a matmul's or convolution's epilogue), and the backward pass reads y, which the next layer
// stores anyway. The slope at 0 is 0 in both modes, as in JAX and PyTorch.
Tensor relu(const Tensor& x, Loc loc) {
  SourceLoc w = SourceLoc::from(loc);
  Tensor value = where(less_equal(x, weak(0, x, w), loc), weak(0, x, w), x, loc);
  auto rule = std::make_shared<CustomRule>();
  rule->where = w;
  rule->jvp_through_value = true;
  rule->vjp = [loc, w](const std::vector<Tensor>& in, const Tensor& dy) {
    const Tensor& y = in[1];
    return std::vector<Tensor>{where(less_equal(y, weak(0, y, w), loc), weak(0, dy, w), dy, loc), Tensor()};
  };
  return detail::with_custom_vjp({x, value}, value, std::move(rule));
}

// ---- Operators ------------------------------------------------------------------------------
Operand::Operand(const Params& p, Loc l) : tensor(p.tensor(l)), loc(SourceLoc::from(l)) {}

namespace {
// Operators forward the Operand's recorded location by building nodes directly.
Tensor bin(OpKind op, const Operand& a, const Tensor& b) { return binary(op, a.tensor, b, a.loc); }
}  // namespace

Tensor operator+(Operand a, Operand b) { return bin(OpKind::Add, a, b.tensor); }
Tensor operator-(Operand a, Operand b) { return bin(OpKind::Sub, a, b.tensor); }
Tensor operator*(Operand a, Operand b) { return bin(OpKind::Mul, a, b.tensor); }
Tensor operator/(Operand a, Operand b) { return bin(OpKind::Div, a, b.tensor); }
Tensor operator+(Operand a, double b) { return bin(OpKind::Add, a, weak(b, a.tensor, a.loc)); }
Tensor operator-(Operand a, double b) { return bin(OpKind::Sub, a, weak(b, a.tensor, a.loc)); }
Tensor operator*(Operand a, double b) { return bin(OpKind::Mul, a, weak(b, a.tensor, a.loc)); }
Tensor operator/(Operand a, double b) { return bin(OpKind::Div, a, weak(b, a.tensor, a.loc)); }
Tensor operator+(double a, Operand b) { return binary(OpKind::Add, weak(a, b.tensor, b.loc), b.tensor, b.loc); }
Tensor operator-(double a, Operand b) { return binary(OpKind::Sub, weak(a, b.tensor, b.loc), b.tensor, b.loc); }
Tensor operator*(double a, Operand b) { return binary(OpKind::Mul, weak(a, b.tensor, b.loc), b.tensor, b.loc); }
Tensor operator/(double a, Operand b) { return binary(OpKind::Div, weak(a, b.tensor, b.loc), b.tensor, b.loc); }
Tensor operator-(Operand a) { return unary(OpKind::Neg, a.tensor, a.loc); }
Tensor operator<(Operand a, Operand b) { return bin(OpKind::Less, a, b.tensor); }
Tensor operator<=(Operand a, Operand b) { return bin(OpKind::LessEqual, a, b.tensor); }
Tensor operator>(Operand a, Operand b) { return bin(OpKind::Greater, a, b.tensor); }
Tensor operator>=(Operand a, Operand b) { return bin(OpKind::GreaterEqual, a, b.tensor); }
Tensor operator<(Operand a, double b) { return bin(OpKind::Less, a, weak(b, a.tensor, a.loc)); }
Tensor operator<=(Operand a, double b) { return bin(OpKind::LessEqual, a, weak(b, a.tensor, a.loc)); }
Tensor operator>(Operand a, double b) { return bin(OpKind::Greater, a, weak(b, a.tensor, a.loc)); }
Tensor operator>=(Operand a, double b) { return bin(OpKind::GreaterEqual, a, weak(b, a.tensor, a.loc)); }

}  // namespace zephyr
