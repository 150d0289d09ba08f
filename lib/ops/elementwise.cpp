// Shape rules of the elementwise primitives (unary, binary, compare, select, cast), plus the
// operator overloads and the elementwise composites built from them.
#include <fmt/format.h>

#include <cmath>

#include "operand.h"
#include "zephyr/ops.h"
#include "zephyr/params.h"

namespace zephyr {
namespace {

Tensor unary(OpKind op, const Tensor& x, const SourceLoc& loc, bool float_only = true) {
  if (float_only && !is_float(x.dtype()))
    fail_at(loc, mnemonic(op), fmt::format("needs a float operand, got {}", describe(x.dtype(), x.shape())));
  return Tensor(make_node(op, x.dtype(), x.shape(), {x.node()}, {}, loc));
}

Tensor binary(OpKind op, const Tensor& a, const Tensor& b, const SourceLoc& loc, bool compare = false) {
  const char* what = mnemonic(op);
  if (a.dtype() != b.dtype())
    fail_at(loc, what, fmt::format("operand dtypes differ: {} and {} (use cast)", detail::operand(a), detail::operand(b)));
  if (!compare && a.dtype() == DType::bool_)
    fail_at(loc, what, "arithmetic on bool operands; cast them first");
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  for (size_t i = 1; i <= std::min(sa.size(), sb.size()); ++i)  // from the last axis, as broadcasting aligns
    if (sa[sa.size() - i] != sb[sb.size() - i] && sa[sa.size() - i] != 1 && sb[sb.size() - i] != 1)
      fail_at(loc, what, fmt::format("{} and {} do not broadcast (axis -{}: {} vs {})", detail::operand(a),
                                     detail::operand(b), i, sa[sa.size() - i], sb[sb.size() - i]));
  Shape shape = broadcast_shapes(sa, sb, what, loc);
  return Tensor(make_node(op, compare ? DType::bool_ : a.dtype(), std::move(shape), {a.node(), b.node()}, {}, loc));
}

// A Python-style "weak" scalar: it takes the dtype of the tensor it meets.
Tensor weak(double value, const Tensor& like, const SourceLoc& loc) {
  Attrs attrs;
  attrs.value = Array::full({}, value, like.dtype());
  return Tensor(make_node(OpKind::Constant, like.dtype(), {}, {}, std::move(attrs), loc));
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

Tensor pow(const Tensor& a, const Tensor& b, Loc loc) {
  SourceLoc where = SourceLoc::from(loc);
  if (!is_float(a.dtype())) fail_at(where, "pow", "needs float operands, got " + describe(a.dtype(), a.shape()));
  return binary(OpKind::Pow, a, b, where);
}
Tensor pow(const Tensor& a, double exponent, Loc loc) {
  SourceLoc where = SourceLoc::from(loc);
  if (exponent == 2.0) return binary(OpKind::Mul, a, a, where);
  return pow(a, weak(exponent, a, where), loc);
}

#define ZEPHYR_COMPARE(fn, kind)                                 \
  Tensor fn(const Tensor& a, const Tensor& b, Loc loc) {         \
    return binary(OpKind::kind, a, b, SourceLoc::from(loc), true); \
  }
ZEPHYR_COMPARE(equal, Equal)
ZEPHYR_COMPARE(not_equal, NotEqual)
ZEPHYR_COMPARE(less, Less)
ZEPHYR_COMPARE(less_equal, LessEqual)
ZEPHYR_COMPARE(greater, Greater)
ZEPHYR_COMPARE(greater_equal, GreaterEqual)
#undef ZEPHYR_COMPARE

Tensor neg(const Tensor& x, Loc loc) { return unary(OpKind::Neg, x, SourceLoc::from(loc), false); }
Tensor abs(const Tensor& x, Loc loc) { return unary(OpKind::Abs, x, SourceLoc::from(loc), false); }
Tensor exp(const Tensor& x, Loc loc) { return unary(OpKind::Exp, x, SourceLoc::from(loc)); }
Tensor log(const Tensor& x, Loc loc) { return unary(OpKind::Log, x, SourceLoc::from(loc)); }
Tensor tanh(const Tensor& x, Loc loc) { return unary(OpKind::Tanh, x, SourceLoc::from(loc)); }
Tensor sqrt(const Tensor& x, Loc loc) { return unary(OpKind::Sqrt, x, SourceLoc::from(loc)); }
Tensor rsqrt(const Tensor& x, Loc loc) { return unary(OpKind::Rsqrt, x, SourceLoc::from(loc)); }
Tensor sin(const Tensor& x, Loc loc) { return unary(OpKind::Sin, x, SourceLoc::from(loc)); }
Tensor cos(const Tensor& x, Loc loc) { return unary(OpKind::Cos, x, SourceLoc::from(loc)); }

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b, Loc loc) {
  SourceLoc where = SourceLoc::from(loc);
  if (cond.dtype() != DType::bool_)
    fail_at(where, "where", "condition must be bool, got " + describe(cond.dtype(), cond.shape()));
  if (a.dtype() != b.dtype())
    fail_at(where, "where", fmt::format("branch dtypes differ: {} and {}", describe(a.dtype(), a.shape()),
                                        describe(b.dtype(), b.shape())));
  Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where", where), b.shape(), "where", where);
  return Tensor(make_node(OpKind::Select, a.dtype(), std::move(shape), {cond.node(), a.node(), b.node()}, {}, where));
}

Tensor cast(const Tensor& x, DType dtype, Loc loc) {
  if (x.dtype() == dtype) return x;
  return Tensor(make_node(OpKind::Cast, dtype, x.shape(), {x.node()}, {}, SourceLoc::from(loc)));
}

namespace {
Tensor bitwise(OpKind op, const Tensor& a, const Tensor& b, const SourceLoc& loc) {
  if (a.dtype() != DType::i32 || b.dtype() != DType::i32)
    fail_at(loc, mnemonic(op), fmt::format("needs i32 operands, got {} and {}", describe(a.dtype(), a.shape()),
                                           describe(b.dtype(), b.shape())));
  return binary(op, a, b, loc);
}
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
Tensor relu(const Tensor& x, Loc loc) { return maximum(x, weak(0, x, SourceLoc::from(loc)), loc); }
Tensor sigmoid(const Tensor& x, Loc loc) {
  // 0.5 * (1 + tanh(x / 2)) is stable for large |x|, unlike 1 / (1 + exp(-x)) in f32.
  SourceLoc w = SourceLoc::from(loc);
  return mul(weak(0.5, x, w), add(weak(1, x, w), tanh(mul(x, weak(0.5, x, w), loc), loc), loc), loc);
}
Tensor gelu(const Tensor& x, Loc loc) {
  SourceLoc w = SourceLoc::from(loc);
  const double c = std::sqrt(2.0 / M_PI);
  Tensor cube = mul(mul(x, x, loc), x, loc);
  Tensor inner = mul(weak(c, x, w), add(x, mul(weak(0.044715, x, w), cube, loc), loc), loc);
  return mul(mul(weak(0.5, x, w), x, loc), add(weak(1, x, w), tanh(inner, loc), loc), loc);
}

// ---- Operators ------------------------------------------------------------------------------
Operand::Operand(const Params& p, Loc l) : tensor(p.tensor(l)), loc(SourceLoc::from(l)) {}

namespace {
// Operators forward the Operand's recorded location by building nodes directly.
Tensor bin(OpKind op, const Operand& a, const Tensor& b, bool compare = false) {
  return binary(op, a.tensor, b, a.loc, compare);
}
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
Tensor operator-(Operand a) { return unary(OpKind::Neg, a.tensor, a.loc, false); }
Tensor operator<(Operand a, Operand b) { return bin(OpKind::Less, a, b.tensor, true); }
Tensor operator<=(Operand a, Operand b) { return bin(OpKind::LessEqual, a, b.tensor, true); }
Tensor operator>(Operand a, Operand b) { return bin(OpKind::Greater, a, b.tensor, true); }
Tensor operator>=(Operand a, Operand b) { return bin(OpKind::GreaterEqual, a, b.tensor, true); }
Tensor operator<(Operand a, double b) { return bin(OpKind::Less, a, weak(b, a.tensor, a.loc), true); }
Tensor operator<=(Operand a, double b) { return bin(OpKind::LessEqual, a, weak(b, a.tensor, a.loc), true); }
Tensor operator>(Operand a, double b) { return bin(OpKind::Greater, a, weak(b, a.tensor, a.loc), true); }
Tensor operator>=(Operand a, double b) { return bin(OpKind::GreaterEqual, a, weak(b, a.tensor, a.loc), true); }

}  // namespace zephyr
