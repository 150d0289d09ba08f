// Every op in ops.h, jit-compiled, against a reference written as a plain loop in this file.
// The references never call zephyr: they read the input Arrays element by element, compute in
// double, and are compared with a relative tolerance for the float dtypes and exactly otherwise.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <zephyr/zephyr.h>

#include "reference.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

namespace z = zephyr;
using z::Array;
using z::Axes;
using z::DType;
using z::Shape;
using z::Tensor;

namespace {

// =============================================================================================
// Tolerances
// =============================================================================================

// Relative (doctest::Approx, so also absolute near zero). f32 exp/log/tanh are polynomials.
constexpr double kF32Tolerance = 1e-5;
constexpr double kF64Tolerance = 1e-12;

double tolerance_for(DType dtype) {
  switch (dtype) {
    case DType::f32: return kF32Tolerance;
    case DType::f64: return kF64Tolerance;
    default: return 0.0;  // integers and bools are exact
  }
}

using zephyr::testing::count;  // index arithmetic written out independently of zephyr (reference.h)
using zephyr::testing::ravel;
using zephyr::testing::unravel;

// numpy broadcasting: trailing axes align, and each axis is 1 or the common extent.
Shape reference_broadcast_shape(const std::vector<Shape>& shapes) {
  size_t rank = 0;
  for (const Shape& s : shapes) rank = std::max(rank, s.size());
  Shape out(rank, 1);
  for (const Shape& s : shapes)
    for (size_t i = 0; i < s.size(); ++i) {
      int64_t& o = out[rank - s.size() + i];
      if (s[i] == 1) continue;
      REQUIRE_MESSAGE((o == 1 || o == s[i]), "test bug: shapes do not broadcast");
      o = s[i];
    }
  return out;
}

// The flat index of the element of an operand of shape `in` that the output element at
// `out_index` reads: leading missing axes are dropped and extent-1 axes read index 0.
int64_t broadcast_source(const Shape& out_index, const Shape& in) {
  size_t offset = out_index.size() - in.size();
  Shape index(in.size());
  for (size_t i = 0; i < in.size(); ++i) index[i] = in[i] == 1 ? 0 : out_index[offset + i];
  return ravel(index, in);
}

int64_t normalized(int64_t axis, int64_t rank) { return axis < 0 ? axis + rank : axis; }

// =============================================================================================
// Inputs
// =============================================================================================

// Uniform floats in [lo, hi), deterministic in `seed`.
Array random_floats(uint64_t seed, const Shape& shape, DType dtype = DType::f32, double lo = -2.0,
                    double hi = 2.0) {
  return z::random::uniform(z::random::key(seed), shape, dtype, lo, hi);
}

// A 64-bit LCG (Knuth's MMIX constants) for integer data.
class Lcg {
 public:
  explicit Lcg(uint64_t seed) : state_(seed * 2654435761u + 1) {}
  // Uniform in [lo, hi].
  int64_t next(int64_t lo, int64_t hi) {
    state_ = state_ * 6364136223846793005ull + 1442695040888963407ull;
    return lo + static_cast<int64_t>((state_ >> 33) % static_cast<uint64_t>(hi - lo + 1));
  }

 private:
  uint64_t state_;
};

// `values` converted to `dtype`, as an Array of `shape`.
Array array_of(const Shape& shape, const std::vector<double>& values, DType dtype) {
  Array a(shape, dtype);
  REQUIRE(a.size() == static_cast<int64_t>(values.size()));
  for (size_t i = 0; i < values.size(); ++i) a.set(static_cast<int64_t>(i), values[i]);
  return a;
}

// Integers in [lo, hi] (skipping 0 when `nonzero`), stored as `dtype`. Stored as floats they
// tie often, which comparisons need.
Array random_ints(uint64_t seed, const Shape& shape, int64_t lo, int64_t hi, DType dtype = DType::i32,
                  bool nonzero = false) {
  Lcg rng(seed);
  std::vector<double> values;
  while (static_cast<int64_t>(values.size()) < count(shape)) {
    int64_t v = rng.next(lo, hi);
    if (!(nonzero && v == 0)) values.push_back(static_cast<double>(v));
  }
  return array_of(shape, values, dtype);
}

Array random_bools(uint64_t seed, const Shape& shape) { return random_ints(seed, shape, 0, 1, DType::bool_); }

// =============================================================================================
// References and the comparison
// =============================================================================================

// What an op should return: shape, dtype and every element (as double).
struct Reference {
  Shape shape;
  DType dtype;
  std::vector<double> values;
};

// Compares shape, dtype and all elements; on failure reports the first mismatch and the count.
void check_close(const Array& actual, const Reference& expected, double tolerance) {
  REQUIRE(z::to_string(actual.shape()) == z::to_string(expected.shape));
  CHECK(std::string(z::name(actual.dtype())) == z::name(expected.dtype));
  REQUIRE(actual.size() == static_cast<int64_t>(expected.values.size()));
  int64_t mismatches = 0, first = -1;
  for (int64_t i = 0; i < actual.size(); ++i) {
    double got = actual.at(i), want = expected.values[i];
    bool ok = got == want || (std::isnan(got) && std::isnan(want)) ||
              (tolerance > 0 && got == doctest::Approx(want).epsilon(tolerance));
    if (!ok && mismatches++ == 0) first = i;
  }
  CHECK_MESSAGE(mismatches == 0,
                fmt::format("{} of {} elements differ; first at flat index {} (index [{}]): got {:.17g}, "
                            "expected {:.17g}",
                            mismatches, actual.size(), first,
                            first < 0 ? "" : fmt::format("{}", fmt::join(unravel(first, expected.shape), ", ")),
                            first < 0 ? 0.0 : actual.at(first), first < 0 ? 0.0 : expected.values[first]));
}

// With the tolerance of the expected dtype.
void check_close(const Array& actual, const Reference& expected) {
  check_close(actual, expected, tolerance_for(expected.dtype));
}

// f(values of all inputs at one element) over the broadcast shape of `inputs`.
template <class F>
Reference reference_broadcast(const std::vector<Array>& inputs, DType dtype, F f) {
  std::vector<Shape> shapes;
  for (const Array& a : inputs) shapes.push_back(a.shape());
  Reference r{reference_broadcast_shape(shapes), dtype, {}};
  std::vector<double> args(inputs.size());
  for (int64_t i = 0; i < count(r.shape); ++i) {
    Shape index = unravel(i, r.shape);
    for (size_t k = 0; k < inputs.size(); ++k) args[k] = inputs[k].at(broadcast_source(index, inputs[k].shape()));
    r.values.push_back(f(args));
  }
  return r;
}

template <class F>
Reference reference_broadcast_binary(const Array& a, const Array& b, DType dtype, F f) {
  return reference_broadcast({a, b}, dtype, [&](const std::vector<double>& v) { return f(v[0], v[1]); });
}

template <class F>
Reference reference_unary(const Array& x, DType dtype, F f) {
  return reference_broadcast({x}, dtype, [&](const std::vector<double>& v) { return f(v[0]); });
}

// Element i of the result is x[source(index of i)]: every data-movement op is one of these.
template <class F>
Reference gather(const Array& x, const Shape& shape, F source) {
  Reference r{shape, x.dtype(), {}};
  for (int64_t i = 0; i < count(shape); ++i) r.values.push_back(x.at(source(unravel(i, shape))));
  return r;
}

// f(all values of one reduced group) for each group, as numpy's reductions with keepdims.
template <class F>
Reference reference_reduce(const Array& x, const Axes& axes, bool keepdims, F f) {
  int64_t rank = x.ndim();
  std::vector<bool> reduced(rank, axes.empty());
  for (int64_t a : axes) reduced[normalized(a, rank)] = true;
  Shape kept = x.shape(), out;
  for (int64_t i = 0; i < rank; ++i) {
    if (reduced[i]) kept[i] = 1;
    if (!reduced[i] || keepdims) out.push_back(kept[i]);
  }
  std::vector<std::vector<double>> groups(count(kept));
  for (int64_t i = 0; i < x.size(); ++i) {
    Shape index = unravel(i, x.shape());
    for (int64_t d = 0; d < rank; ++d)
      if (reduced[d]) index[d] = 0;
    groups[ravel(index, kept)].push_back(x.at(i));
  }
  Reference r{out, x.dtype(), {}};
  for (const auto& g : groups) r.values.push_back(f(g));
  return r;
}

double group_sum(const std::vector<double>& g) {
  double s = 0;
  for (double v : g) s += v;
  return s;
}
double group_max(const std::vector<double>& g) { return *std::max_element(g.begin(), g.end()); }
double group_mean(const std::vector<double>& g) { return group_sum(g) / static_cast<double>(g.size()); }
double group_var(const std::vector<double>& g) {
  double m = group_mean(g), s = 0;
  for (double v : g) s += (v - m) * (v - m);
  return s / static_cast<double>(g.size());
}
double group_logsumexp(const std::vector<double>& g) {
  double m = group_max(g), s = 0;
  for (double v : g) s += std::exp(v - m);
  return m + std::log(s);
}

// f(one lane along `axis`) -> the lane's new values, for softmax-like ops.
template <class F>
Reference reference_along_axis(const Array& x, int64_t axis, F f) {
  int64_t a = normalized(axis, x.ndim());
  int64_t n = x.shape()[a], stride = count(Shape(x.shape().begin() + a + 1, x.shape().end()));
  Reference r{x.shape(), x.dtype(), std::vector<double>(x.size())};
  for (int64_t i = 0; i < x.size(); ++i) {
    if (unravel(i, x.shape())[a] != 0) continue;
    std::vector<double> lane;
    for (int64_t j = 0; j < n; ++j) lane.push_back(x.at(i + j * stride));
    std::vector<double> out = f(lane);
    for (int64_t j = 0; j < n; ++j) r.values[i + j * stride] = out[j];
  }
  return r;
}

std::vector<double> lane_log_softmax(const std::vector<double>& lane) {
  double lse = group_logsumexp(lane);
  std::vector<double> out;
  for (double v : lane) out.push_back(v - lse);
  return out;
}
std::vector<double> lane_softmax(const std::vector<double>& lane) {
  std::vector<double> out = lane_log_softmax(lane);
  for (double& v : out) v = std::exp(v);
  return out;
}

// numpy matmul: 1-D operands become a row (lhs) or a column (rhs) and that axis is dropped
// from the result; leading batch axes broadcast.
Reference reference_matmul(const Array& a, const Array& b) {
  Shape as = a.shape(), bs = b.shape();
  bool a_vector = as.size() == 1, b_vector = bs.size() == 1;
  if (a_vector) as.insert(as.begin(), 1);
  if (b_vector) bs.push_back(1);
  int64_t m = as[as.size() - 2], k = as.back(), n = bs.back();
  REQUIRE(bs[bs.size() - 2] == k);
  Shape a_batch(as.begin(), as.end() - 2), b_batch(bs.begin(), bs.end() - 2);
  Shape batch = reference_broadcast_shape({a_batch, b_batch});
  Shape shape = batch;
  if (!a_vector) shape.push_back(m);
  if (!b_vector) shape.push_back(n);
  Reference r{shape, a.dtype(), {}};
  for (int64_t p = 0; p < count(batch); ++p) {
    Shape index = unravel(p, batch);
    int64_t a0 = broadcast_source(index, a_batch) * m * k, b0 = broadcast_source(index, b_batch) * k * n;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t l = 0; l < k; ++l) s += a.at(a0 + i * k + l) * b.at(b0 + l * n + j);
        r.values.push_back(s);
      }
  }
  return r;
}

// Output axis i is input axis perm[i] (empty perm reverses).
Reference reference_transpose(const Array& x, Axes perm) {
  int64_t rank = x.ndim();
  if (perm.empty())
    for (int64_t i = rank - 1; i >= 0; --i) perm.push_back(i);
  for (int64_t& p : perm) p = normalized(p, rank);
  Shape shape(rank);
  for (int64_t i = 0; i < rank; ++i) shape[i] = x.shape()[perm[i]];
  return gather(x, shape, [&](const Shape& out) {
    Shape in(rank);
    for (int64_t i = 0; i < rank; ++i) in[perm[i]] = out[i];
    return ravel(in, x.shape());
  });
}

// x[start:stop:step] along `axis`, by python's rules for a positive step.
Reference reference_slice(const Array& x, int64_t axis, int64_t start, int64_t stop, int64_t step) {
  int64_t a = normalized(axis, x.ndim()), n = x.shape()[a];
  auto bound = [n](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + n : i, 0, n); };
  std::vector<int64_t> picked;
  for (int64_t i = bound(start); i < bound(stop); i += step) picked.push_back(i);
  Shape shape = x.shape();
  shape[a] = static_cast<int64_t>(picked.size());
  return gather(x, shape, [&](Shape index) {
    index[a] = picked[index[a]];
    return ravel(index, x.shape());
  });
}

Reference reference_concat(const std::vector<Array>& xs, int64_t axis) {
  int64_t a = normalized(axis, xs[0].ndim());
  Shape shape = xs[0].shape();
  shape[a] = 0;
  for (const Array& x : xs) shape[a] += x.shape()[a];
  Reference r{shape, xs[0].dtype(), {}};
  for (int64_t i = 0; i < count(shape); ++i) {
    Shape index = unravel(i, shape);
    size_t k = 0;
    while (index[a] >= xs[k].shape()[a]) index[a] -= xs[k++].shape()[a];
    r.values.push_back(xs[k].at(ravel(index, xs[k].shape())));
  }
  return r;
}

double gelu_reference(double x) {
  const double pi = 3.14159265358979323846;
  return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / pi) * (x + 0.044715 * x * x * x)));
}

// The same elements in the same row-major order under a new shape (reshape-like ops).
Reference with_shape(const Array& x, const Shape& shape) {
  return gather(x, shape, [&](const Shape& index) { return ravel(index, shape); });
}

// "f32[2, 3]" and "[0, -1]", for INFO.
std::string describe(const Array& a) { return fmt::format("{}{}", z::name(a.dtype()), z::to_string(a.shape())); }
std::string str(const std::vector<int64_t>& v) { return fmt::format("[{}]", fmt::join(v, ", ")); }

}  // namespace

// =============================================================================================
// Elementwise binary arithmetic, with numpy broadcasting
// =============================================================================================

namespace {

struct BinaryOp {
  std::string name;
  Tensor (*op)(Tensor, Tensor);
  double (*reference)(double, double);
  bool positive_lhs = false;  // pow: a real result needs a positive base
  bool positive_rhs = false;  // div: keep away from zero
};

const BinaryOp kBinaryOps[] = {
    {"add", [](Tensor a, Tensor b) { return z::add(a, b); }, [](double x, double y) { return x + y; }},
    {"sub", [](Tensor a, Tensor b) { return z::sub(a, b); }, [](double x, double y) { return x - y; }},
    {"mul", [](Tensor a, Tensor b) { return z::mul(a, b); }, [](double x, double y) { return x * y; }},
    {"div", [](Tensor a, Tensor b) { return z::div(a, b); }, [](double x, double y) { return x / y; }, false, true},
    {"pow", [](Tensor a, Tensor b) { return z::pow(a, b); }, [](double x, double y) { return std::pow(x, y); },
     true, false},
    {"maximum", [](Tensor a, Tensor b) { return z::maximum(a, b); },
     [](double x, double y) { return std::max(x, y); }},
    {"minimum", [](Tensor a, Tensor b) { return z::minimum(a, b); },
     [](double x, double y) { return std::min(x, y); }},
    {"operator+", [](Tensor a, Tensor b) { return a + b; }, [](double x, double y) { return x + y; }},
    {"operator-", [](Tensor a, Tensor b) { return a - b; }, [](double x, double y) { return x - y; }},
    {"operator*", [](Tensor a, Tensor b) { return a * b; }, [](double x, double y) { return x * y; }},
    {"operator/", [](Tensor a, Tensor b) { return a / b; }, [](double x, double y) { return x / y; }, false, true},
};

// lhs and rhs shapes: equal, trailing vector, column, middle axis, scalar and [1] on either
// side, and both sides stretched at once.
const std::vector<std::pair<Shape, Shape>> kBroadcastPairs = {
    {{2, 3, 4}, {2, 3, 4}}, {{2, 3, 4}, {4}}, {{2, 3, 4}, {3, 1}}, {{2, 3, 4}, {2, 1, 4}},
    {{2, 3, 4}, {}},        {{2, 3, 4}, {1}}, {{4}, {2, 3, 4}},    {{3, 1}, {2, 1, 4}},
    {{}, {2, 3, 4}},        {{1}, {}},        {{5, 17}, {17}},
};
// f64 reuses the broadcasting logic of f32; a few pairs cover its arithmetic (fewer compiles).
const std::vector<std::pair<Shape, Shape>> kF64BroadcastPairs = {
    {{2, 3, 4}, {3, 1}}, {{3, 1}, {2, 1, 4}}, {{}, {2, 3, 4}}};

// lhs and rhs for one case, from consecutive seeds, in the domains the op needs.
std::pair<Array, Array> binary_inputs(const BinaryOp& op, const Shape& sa, const Shape& sb, DType dtype,
                                      uint64_t seed) {
  Array a = op.positive_lhs ? random_floats(seed, sa, dtype, 0.25, 2.5) : random_floats(seed, sa, dtype);
  Array b = op.positive_rhs ? random_floats(seed + 1, sb, dtype, 0.25, 2.5) : random_floats(seed + 1, sb, dtype);
  return {a, b};
}

}  // namespace

TEST_CASE("binary arithmetic ops and operators broadcast like numpy (f32 and f64)") {
  uint64_t seed = 100;
  for (const BinaryOp& op : kBinaryOps) {
    auto f = z::jit(op.op);
    for (DType dtype : {DType::f32, DType::f64}) {
      for (const auto& [sa, sb] : dtype == DType::f32 ? kBroadcastPairs : kF64BroadcastPairs) {
        auto [a, b] = binary_inputs(op, sa, sb, dtype, seed += 2);
        INFO(op.name, "(", describe(a), ", ", describe(b), ")");
        check_close(f(a, b), reference_broadcast_binary(a, b, dtype, op.reference));
      }
    }
  }
}

TEST_CASE("pow with a double exponent, including the exponent-2 shortcut") {
  auto f = z::jit([](Tensor x, double e) { return z::pow(x, e); });
  for (DType dtype : {DType::f32, DType::f64}) {
    Array x = random_floats(7, {3, 5}, dtype, 0.25, 3.0);
    for (double e : {2.0, 3.0, 0.5, -1.5}) {
      INFO("pow(", describe(x), ", ", e, ")");
      check_close(f(x, e), reference_unary(x, dtype, [e](double v) { return std::pow(v, e); }));
    }
  }
}

namespace {

struct ScalarOp {
  std::string name;
  Tensor (*op)(Tensor);
  double (*reference)(double);
};

// Scalars exactly representable in f32, so the f32 reference needs no rounding.
const ScalarOp kScalarOps[] = {
    {"x + 1.5", [](Tensor x) { return x + 1.5; }, [](double x) { return x + 1.5; }},
    {"1.5 + x", [](Tensor x) { return 1.5 + x; }, [](double x) { return 1.5 + x; }},
    {"x - 0.75", [](Tensor x) { return x - 0.75; }, [](double x) { return x - 0.75; }},
    {"0.75 - x", [](Tensor x) { return 0.75 - x; }, [](double x) { return 0.75 - x; }},
    {"x * 2.5", [](Tensor x) { return x * 2.5; }, [](double x) { return x * 2.5; }},
    {"2.5 * x", [](Tensor x) { return 2.5 * x; }, [](double x) { return 2.5 * x; }},
    {"x / 1.25", [](Tensor x) { return x / 1.25; }, [](double x) { return x / 1.25; }},
    {"1.25 / x", [](Tensor x) { return 1.25 / x; }, [](double x) { return 1.25 / x; }},
    {"-x", [](Tensor x) { return -x; }, [](double x) { return -x; }},
};

}  // namespace

TEST_CASE("operators with a double scalar on either side take the tensor's dtype") {
  for (const ScalarOp& op : kScalarOps) {
    auto f = z::jit(op.op);
    for (DType dtype : {DType::f32, DType::f64}) {
      // Positive, so that 1.25 / x stays finite.
      Array x = random_floats(11, {3, 7}, dtype, 0.25, 4.0);
      INFO(op.name, " with x = ", describe(x));
      check_close(f(x), reference_unary(x, dtype, op.reference));
    }
  }
}

// =============================================================================================
// Elementwise unary ops
// =============================================================================================

namespace {

struct UnaryOp {
  std::string name;
  Tensor (*op)(Tensor);
  double (*reference)(double);
  bool positive_domain = false;  // log, sqrt, rsqrt
};

const UnaryOp kUnaryOps[] = {
    {"neg", [](Tensor x) { return z::neg(x); }, [](double x) { return -x; }},
    {"abs", [](Tensor x) { return z::abs(x); }, [](double x) { return std::abs(x); }},
    {"exp", [](Tensor x) { return z::exp(x); }, [](double x) { return std::exp(x); }},
    {"log", [](Tensor x) { return z::log(x); }, [](double x) { return std::log(x); }, true},
    {"tanh", [](Tensor x) { return z::tanh(x); }, [](double x) { return std::tanh(x); }},
    {"sqrt", [](Tensor x) { return z::sqrt(x); }, [](double x) { return std::sqrt(x); }, true},
    {"rsqrt", [](Tensor x) { return z::rsqrt(x); }, [](double x) { return 1.0 / std::sqrt(x); }, true},
    {"sin", [](Tensor x) { return z::sin(x); }, [](double x) { return std::sin(x); }},
    {"cos", [](Tensor x) { return z::cos(x); }, [](double x) { return std::cos(x); }},
    {"sigmoid", [](Tensor x) { return z::sigmoid(x); }, [](double x) { return 1.0 / (1.0 + std::exp(-x)); }},
    {"relu", [](Tensor x) { return z::relu(x); }, [](double x) { return x > 0 ? x : 0.0; }},
    {"gelu", [](Tensor x) { return z::gelu(x); }, gelu_reference},
    {"square", [](Tensor x) { return z::square(x); }, [](double x) { return x * x; }},
};

// Hand-picked values (zero, tiny, saturating) followed by random ones, as a [4, 16] array.
Array unary_input(bool positive, DType dtype, uint64_t seed) {
  std::vector<double> values =
      positive ? std::vector<double>{1e-4, 1e-3, 0.1, 0.5, 1, 2, 10, 1e3, 1e6}
               : std::vector<double>{-20, -8, -3, -1, -0.5, -1e-3, 0, 1e-3, 0.5, 1, 3, 8, 20};
  Array random = random_floats(seed, {64}, DType::f64, positive ? 0.05 : -4.0, positive ? 5.0 : 4.0);
  for (int64_t i = static_cast<int64_t>(values.size()); i < 64; ++i) values.push_back(random.at(i));
  return array_of({4, 16}, values, dtype);
}

}  // namespace

TEST_CASE("unary ops match libm (f32 and f64)") {
  for (const UnaryOp& op : kUnaryOps) {
    auto f = z::jit(op.op);
    for (DType dtype : {DType::f32, DType::f64}) {
      Array x = unary_input(op.positive_domain, dtype, 21);
      INFO(op.name, "(", describe(x), ")");
      check_close(f(x), reference_unary(x, dtype, op.reference));
    }
  }
}

// =============================================================================================
// Comparisons, where, cast
// =============================================================================================

namespace {

struct CompareOp {
  std::string name;
  Tensor (*op)(Tensor, Tensor);
  bool (*reference)(double, double);
  bool scalar_rhs = false;  // compares with a double literal; the second input is unused
};

const CompareOp kCompareOps[] = {
    {"equal", [](Tensor a, Tensor b) { return z::equal(a, b); }, [](double x, double y) { return x == y; }},
    {"not_equal", [](Tensor a, Tensor b) { return z::not_equal(a, b); }, [](double x, double y) { return x != y; }},
    {"less", [](Tensor a, Tensor b) { return z::less(a, b); }, [](double x, double y) { return x < y; }},
    {"less_equal", [](Tensor a, Tensor b) { return z::less_equal(a, b); }, [](double x, double y) { return x <= y; }},
    {"greater", [](Tensor a, Tensor b) { return z::greater(a, b); }, [](double x, double y) { return x > y; }},
    {"greater_equal", [](Tensor a, Tensor b) { return z::greater_equal(a, b); },
     [](double x, double y) { return x >= y; }},
    {"operator<", [](Tensor a, Tensor b) { return a < b; }, [](double x, double y) { return x < y; }},
    {"operator<=", [](Tensor a, Tensor b) { return a <= b; }, [](double x, double y) { return x <= y; }},
    {"operator>", [](Tensor a, Tensor b) { return a > b; }, [](double x, double y) { return x > y; }},
    {"operator>=", [](Tensor a, Tensor b) { return a >= b; }, [](double x, double y) { return x >= y; }},
    // Integer literals: a double literal takes the tensor's dtype, so 0.5 would be 0 for i32.
    {"x < 1", [](Tensor a, Tensor) { return a < 1.0; }, [](double x, double) { return x < 1; }, true},
    {"x <= 0", [](Tensor a, Tensor) { return a <= 0.0; }, [](double x, double) { return x <= 0; }, true},
    {"x > -1", [](Tensor a, Tensor) { return a > -1.0; }, [](double x, double) { return x > -1; }, true},
    {"x >= 1", [](Tensor a, Tensor) { return a >= 1.0; }, [](double x, double) { return x >= 1; }, true},
};

}  // namespace

TEST_CASE("comparisons give bool arrays, with broadcasting, for f32, f64 and i32") {
  const std::vector<std::pair<Shape, Shape>> pairs = {
      {{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{3, 1}, {1, 4}}, {{2, 3, 4}, {}}};
  uint64_t seed = 300;
  for (const CompareOp& op : kCompareOps) {
    auto f = z::jit(op.op);
    for (DType dtype : {DType::f32, DType::f64, DType::i32}) {
      // Every pair for f32; f64 and i32 share the broadcasting, so one stretched pair each.
      for (const auto& [sa, sb] : dtype == DType::f32 ? pairs : std::vector<std::pair<Shape, Shape>>{pairs[2]}) {
        // Small integers, so that equal values are frequent.
        Array a = random_ints(seed++, sa, -2, 2, dtype), b = random_ints(seed++, sb, -2, 2, dtype);
        INFO(op.name, "(", describe(a), ", ", describe(b), ")");
        Reference expected = reference_broadcast_binary(a, op.scalar_rhs ? a : b, DType::bool_, op.reference);
        check_close(f(a, b), expected, 0);
      }
    }
  }
}

TEST_CASE("where selects elementwise and broadcasts condition and both branches") {
  SUBCASE("bool input condition, [2,3,1] x [3,4] x []") {
    auto f = z::jit([](Tensor c, Tensor a, Tensor b) { return z::where(c, a, b); });
    for (DType dtype : {DType::f32, DType::f64, DType::i32}) {
      Array c = random_bools(1, {2, 3, 1});
      Array a = random_ints(2, {3, 4}, -9, 9, dtype), b = random_ints(3, {}, -9, 9, dtype);
      INFO("where(", describe(c), ", ", describe(a), ", ", describe(b), ")");
      check_close(f(c, a, b), reference_broadcast({c, a, b}, dtype, [](const std::vector<double>& v) {
                    return v[0] != 0 ? v[1] : v[2];
                  }), 0);
    }
  }
  SUBCASE("computed condition: a leaky relu") {
    auto f = z::jit([](Tensor x) { return z::where(x > 0.0, x, x * 0.125); });
    Array x = random_floats(4, {5, 9});
    check_close(f(x), reference_unary(x, DType::f32, [](double v) { return v > 0 ? v : v * 0.125; }));
  }
}

TEST_CASE("cast between f32, f64, i32 and bool") {
  // Floats to i32 truncate toward zero; anything to bool is `!= 0`; bool to numbers is 0 or 1.
  const std::vector<double> values = {-2.75, -2.5, -1, -0.25, 0, 0.25, 1, 1.5, 2.75, 3, 100.5, -100.5};
  auto f = z::jit([](Tensor x, DType to) { return z::cast(x, to); });
  const DType dtypes[] = {DType::f32, DType::f64, DType::i32, DType::bool_};
  for (DType from : dtypes) {
    Array x = array_of({3, 4}, values, from);
    for (DType to : dtypes) {
      if (to == from) continue;  // the identity cases are tested below
      INFO("cast ", describe(x), " to ", z::name(to));
      check_close(f(x, to), reference_unary(x, to, [to](double v) {
                    if (to == DType::bool_) return v != 0 ? 1.0 : 0.0;
                    if (to == DType::i32) return std::trunc(v);
                    return v;  // every value above is exact in f32
                  }), 0);
    }
  }
}

// =============================================================================================
// int32 arithmetic
// =============================================================================================

TEST_CASE("int32 arithmetic is exact and division truncates toward zero") {
  struct IntOp {
    std::string name;
    Tensor (*op)(Tensor, Tensor);
    int32_t (*reference)(int32_t, int32_t);
  };
  const IntOp ops[] = {
      {"add", [](Tensor a, Tensor b) { return z::add(a, b); }, [](int32_t x, int32_t y) { return x + y; }},
      {"sub", [](Tensor a, Tensor b) { return z::sub(a, b); }, [](int32_t x, int32_t y) { return x - y; }},
      {"mul", [](Tensor a, Tensor b) { return z::mul(a, b); }, [](int32_t x, int32_t y) { return x * y; }},
      {"div", [](Tensor a, Tensor b) { return z::div(a, b); }, [](int32_t x, int32_t y) { return x / y; }},
      {"maximum", [](Tensor a, Tensor b) { return z::maximum(a, b); },
       [](int32_t x, int32_t y) { return std::max(x, y); }},
      {"minimum", [](Tensor a, Tensor b) { return z::minimum(a, b); },
       [](int32_t x, int32_t y) { return std::min(x, y); }},
      {"operator/", [](Tensor a, Tensor b) { return a / b; }, [](int32_t x, int32_t y) { return x / y; }},
      {"x * 3 - 7", [](Tensor a, Tensor) { return a * 3.0 - 7.0; }, [](int32_t x, int32_t) { return x * 3 - 7; }},
      {"100 / x", [](Tensor a, Tensor) { return 100.0 / a; }, [](int32_t x, int32_t) { return 100 / x; }},
      {"x / 4", [](Tensor a, Tensor) { return a / 4.0; }, [](int32_t x, int32_t) { return x / 4; }},
      {"neg", [](Tensor a, Tensor) { return z::neg(a); }, [](int32_t x, int32_t) { return -x; }},
      {"abs", [](Tensor a, Tensor) { return z::abs(a); }, [](int32_t x, int32_t) { return x < 0 ? -x : x; }},
  };
  // Negative numerators and denominators both appear; the denominators are never 0.
  Array a = random_ints(41, {3, 4, 5}, -50, 50, DType::i32, true);
  Array b = random_ints(42, {4, 5}, -7, 7, DType::i32, true);
  for (const IntOp& op : ops) {
    INFO(op.name, "(", describe(a), ", ", describe(b), ")");
    Reference expected = reference_broadcast_binary(a, b, DType::i32, [&](double x, double y) {
      return static_cast<double>(op.reference(static_cast<int32_t>(x), static_cast<int32_t>(y)));
    });
    check_close(z::jit(op.op)(a, b), expected, 0);
  }
}

// =============================================================================================
// Reductions
// =============================================================================================

TEST_CASE("sum, max, mean, var and logsumexp over axis sets, with and without keepdims") {
  // One compile per (dtype, axes, keepdims) returns all five reductions, in this order.
  auto f = z::jit([](Tensor x, Axes axes, bool keep) {
    return std::vector<Tensor>{z::sum(x, axes, keep), z::max(x, axes, keep), z::mean(x, axes, keep),
                               z::var(x, axes, keep), z::logsumexp(x, axes, keep)};
  });
  const std::pair<const char*, double (*)(const std::vector<double>&)> references[] = {
      {"sum", group_sum}, {"max", group_max}, {"mean", group_mean}, {"var", group_var}, {"logsumexp", group_logsumexp}};
  // {} means all axes; negative axes count from the end. Each set is a compile (~0.4 s), so
  // f64, whose reductions share the f32 lowering, runs a subset.
  const std::vector<Axes> f32_axis_sets = {{}, {0}, {1}, {2}, {-1}, {-2}, {0, 2}, {-1, 0}, {1, -1}, {0, 1, 2}};
  const std::vector<Axes> f64_axis_sets = {{}, {1}, {-1, 0}};
  for (DType dtype : {DType::f32, DType::f64}) {
    Array x = random_floats(51, {3, 5, 37}, dtype, -3, 3);
    for (const Axes& axes : dtype == DType::f32 ? f32_axis_sets : f64_axis_sets) {
      for (bool keepdims : {false, true}) {
        std::vector<Array> results = f(x, axes, keepdims);
        REQUIRE(results.size() == std::size(references));
        for (size_t i = 0; i < results.size(); ++i) {
          INFO(std::string(references[i].first), "(", describe(x), ", axes ", str(axes), ", keepdims ", keepdims, ")");
          check_close(results[i], reference_reduce(x, axes, keepdims, references[i].second));
        }
      }
    }
  }
}

TEST_CASE("reductions of a vector and default arguments") {
  Array v = random_floats(52, {37}, DType::f64);
  check_close(z::jit([](Tensor x) { return z::sum(x); })(v), reference_reduce(v, {}, false, group_sum));
  check_close(z::jit([](Tensor x) { return z::max(x, {0}, true); })(v), reference_reduce(v, {0}, true, group_max));
  check_close(z::jit([](Tensor x) { return z::var(x); })(v), reference_reduce(v, {}, false, group_var));
  // logsumexp defaults to the last axis.
  Array m = random_floats(53, {4, 9}, DType::f64);
  check_close(z::jit([](Tensor x) { return z::logsumexp(x); })(m), reference_reduce(m, {-1}, false, group_logsumexp));
  check_close(z::jit([](Tensor x) { return z::logsumexp(x, {0, 1}); })(m),
              reference_reduce(m, {}, false, group_logsumexp));
}

TEST_CASE("sum and max of int32 are exact") {
  Array x = random_ints(54, {4, 6, 5}, -1000, 1000);
  auto sum = z::jit([](Tensor t, Axes axes) { return z::sum(t, axes); });
  auto max = z::jit([](Tensor t, Axes axes) { return z::max(t, axes); });
  for (const Axes& axes : std::vector<Axes>{{}, {0}, {-1}, {0, 2}}) {
    INFO("axes ", str(axes));
    check_close(sum(x, axes), reference_reduce(x, axes, false, group_sum), 0);
    check_close(max(x, axes), reference_reduce(x, axes, false, group_max), 0);
  }
  // All-negative input: max must not be clamped at 0 by its initial value.
  Array negative = random_ints(55, {3, 8}, -1000, -1);
  check_close(max(negative, Axes{-1}), reference_reduce(negative, {-1}, false, group_max), 0);
}

TEST_CASE("softmax and log_softmax along axis -1 and 0") {
  auto softmax = z::jit([](Tensor x, int64_t axis) { return z::softmax(x, axis); });
  auto log_softmax = z::jit([](Tensor x, int64_t axis) { return z::log_softmax(x, axis); });
  for (DType dtype : {DType::f32, DType::f64}) {
    for (const Shape& shape : std::vector<Shape>{{6, 11}, {3, 4, 5}}) {
      Array x = random_floats(61, shape, dtype, -5, 5);
      for (int64_t axis : {int64_t{-1}, int64_t{0}}) {
        INFO("softmax(", describe(x), ", axis ", axis, ")");
        check_close(softmax(x, axis), reference_along_axis(x, axis, lane_softmax));
        check_close(log_softmax(x, axis), reference_along_axis(x, axis, lane_log_softmax));
      }
    }
  }
  SUBCASE("large logits stay finite (the max is subtracted first)") {
    Array x = random_floats(62, {4, 7}, DType::f32, 500, 600);
    check_close(softmax(x, int64_t{-1}), reference_along_axis(x, -1, lane_softmax));
    check_close(log_softmax(x, int64_t{0}), reference_along_axis(x, 0, lane_log_softmax));
    auto lse = z::jit([](Tensor t) { return z::logsumexp(t, {-1}, true); });
    check_close(lse(x), reference_reduce(x, {-1}, true, group_logsumexp));
  }
}

// =============================================================================================
// matmul
// =============================================================================================

TEST_CASE("matmul follows numpy for 2-D, vectors, stacks and broadcast batches") {
  struct Case {
    Shape a, b;
    DType dtype;
  };
  const Case cases[] = {
      // 2-D, including extents that do not divide the tiles (8, 32, 256, 512).
      {{7, 33}, {33, 45}, DType::f32},
      {{128, 784}, {784, 10}, DType::f32},
      {{8, 32}, {32, 32}, DType::f32},
      {{40, 300}, {300, 520}, DType::f32},
      {{1, 1}, {1, 1}, DType::f32},
      {{1, 1}, {1, 45}, DType::f32},
      {{2, 33}, {33, 45}, DType::f32},
      {{1, 2}, {2, 2}, DType::f32},
      {{1, 33}, {33, 45}, DType::f32},
      {{5, 3}, {3, 1}, DType::f32},
      // Vectors.
      {{33}, {33, 45}, DType::f32},
      {{7, 33}, {33}, DType::f32},
      {{33}, {33}, DType::f32},
      {{4}, {5, 4, 6}, DType::f32},
      {{2, 5, 6}, {6}, DType::f32},
      // Stacks and broadcast batches.
      {{2, 5, 6}, {6, 7}, DType::f32},
      {{5, 6}, {3, 6, 7}, DType::f32},
      {{3, 5, 6}, {3, 6, 7}, DType::f32},
      {{2, 1, 3, 4}, {5, 4, 6}, DType::f32},
      {{1, 3, 4}, {2, 1, 4, 6}, DType::f32},
      // f64 and i32.
      {{7, 33}, {33, 45}, DType::f64},
      {{2, 1, 3, 4}, {5, 4, 6}, DType::f64},
      {{33}, {33, 45}, DType::f64},
      {{7, 33}, {33, 45}, DType::i32},
      {{33}, {33, 45}, DType::i32},
      {{2, 1, 3, 4}, {5, 4, 6}, DType::i32},
      {{2, 5, 6}, {6, 7}, DType::i32},
  };
  auto f = z::jit([](Tensor a, Tensor b) { return z::matmul(a, b); });
  uint64_t seed = 700;
  for (const Case& c : cases) {
    // Small integers for i32, so that the sums are exact.
    bool ints = c.dtype == DType::i32;
    Array a = ints ? random_ints(seed++, c.a, -9, 9) : random_floats(seed++, c.a, c.dtype, -1, 1);
    Array b = ints ? random_ints(seed++, c.b, -9, 9) : random_floats(seed++, c.b, c.dtype, -1, 1);
    INFO("matmul(", describe(a), ", ", describe(b), ")");
    check_close(f(a, b), reference_matmul(a, b));
  }
}

// =============================================================================================
// Data movement
// =============================================================================================

TEST_CASE("reshape keeps row-major order and infers one -1 extent") {
  auto f = z::jit([](Tensor x, Shape shape) { return z::reshape(x, shape); });
  Array x = random_floats(81, {2, 3, 4});
  for (const auto& [shape, expected] : std::vector<std::pair<Shape, Shape>>{
           {{4, -1}, {4, 6}}, {{-1}, {24}}, {{2, -1, 3}, {2, 4, 3}}, {{24, 1}, {24, 1}}, {{1, 2, 12}, {1, 2, 12}}}) {
    INFO("reshape to ", str(shape));
    check_close(f(x, shape), with_shape(x, expected), 0);
  }
  Array one = random_floats(82, {1, 1});
  check_close(f(one, Shape{}), with_shape(one, {}), 0);
}

TEST_CASE("transpose and moveaxis permute axes") {
  Array x = random_floats(83, {2, 3, 4});
  auto f = z::jit([](Tensor t, Axes perm) { return z::transpose(t, perm); });
  for (const Axes& perm : std::vector<Axes>{{}, {1, -1, 0}, {0, 2, 1}, {-1, -3, -2}}) {
    INFO("transpose perm ", str(perm));
    check_close(f(x, perm), reference_transpose(x, perm), 0);
  }
  Array m = random_ints(84, {5, 7}, -99, 99);
  check_close(z::jit([](Tensor t) { return z::transpose(t); })(m), reference_transpose(m, {1, 0}), 0);

  auto move = z::jit([](Tensor t, int64_t source, int64_t destination) { return z::moveaxis(t, source, destination); });
  // (source, destination) and the permutation numpy.moveaxis gives for a rank-3 array.
  for (const auto& [source, destination, perm] : std::vector<std::tuple<int64_t, int64_t, Axes>>{
           {0, -1, {1, 2, 0}}, {-1, 0, {2, 0, 1}}, {1, 0, {1, 0, 2}}, {0, 1, {1, 0, 2}}, {2, 1, {0, 2, 1}}}) {
    INFO("moveaxis(", source, ", ", destination, ")");
    check_close(move(x, source, destination), reference_transpose(x, perm), 0);
  }
}

TEST_CASE("broadcast_to, expand_dims and squeeze") {
  auto bcast = z::jit([](Tensor t, Shape shape) { return z::broadcast_to(t, shape); });
  for (const auto& [from, to] : std::vector<std::pair<Shape, Shape>>{
           {{3, 1}, {2, 3, 4}}, {{4}, {3, 4}}, {{}, {2, 2}}, {{1}, {5}}, {{2, 1, 4}, {2, 3, 4}}}) {
    Array x = random_floats(85, from);
    INFO("broadcast_to(", describe(x), ", ", str(to), ")");
    check_close(bcast(x, to), gather(x, to, [&](const Shape& index) { return broadcast_source(index, from); }), 0);
  }

  Array x = random_floats(86, {3, 4});
  auto expand = z::jit([](Tensor t, int64_t axis) { return z::expand_dims(t, axis); });
  for (const auto& [axis, shape] :
       std::vector<std::pair<int64_t, Shape>>{{0, {1, 3, 4}}, {1, {3, 1, 4}}, {-1, {3, 4, 1}}, {-2, {3, 1, 4}}}) {
    INFO("expand_dims axis ", axis);
    check_close(expand(x, axis), with_shape(x, shape), 0);
  }

  Array y = random_floats(87, {1, 3, 1, 4});
  auto squeeze = z::jit([](Tensor t, Axes axes) { return z::squeeze(t, axes); });
  for (const auto& [axes, shape] : std::vector<std::pair<Axes, Shape>>{
           {{}, {3, 4}}, {{-2}, {1, 3, 4}}, {{0}, {3, 1, 4}}, {{0, -2}, {3, 4}}}) {
    INFO("squeeze axes ", str(axes));
    check_close(squeeze(y, axes), with_shape(y, shape), 0);
  }
}

namespace {

using SliceArgs = std::tuple<int64_t, int64_t, int64_t, int64_t>;  // axis, start, stop, step

// Slices whose result is not one contiguous block of the input.
const std::vector<SliceArgs> kStridedSlices = {
    {1, -6, -1, 2},   // negative start and stop, step 2
    {-2, 1, 7, 2},    // negative axis
    {0, 1, 100, 2},   // stop clamped to the extent
    {1, 2, 5, 1},     // inner axis
    {2, 0, 3, 2},     // last axis
    {1, 0, 7, 3},     // whole axis with a step
    {1, 6, 7, 1},     // single element
};
// Slices of leading rows, which are contiguous.
const std::vector<SliceArgs> kContiguousSlices = {
    {0, -100, 3, 1},  // start clamped to 0
    {0, 1, -1, 1},    // negative stop
    {-3, 2, 5, 1},    // negative axis naming axis 0
};

}  // namespace

TEST_CASE("slice with negative bounds, clamping and steps") {
  Array x = random_floats(88, {5, 7, 3});
  SUBCASE("strided slices feeding another op") {
    // neg keeps the slice inside the computation (returning it directly is tested below).
    auto f = z::jit([](Tensor t, int64_t axis, int64_t start, int64_t stop, int64_t step) {
      return z::neg(z::slice(t, axis, start, stop, step));
    });
    for (const auto& [axis, start, stop, step] : kStridedSlices) {
      INFO("-slice axis ", axis, " [", start, ":", stop, ":", step, "]");
      Reference expected = reference_slice(x, axis, start, stop, step);
      for (double& v : expected.values) v = -v;
      check_close(f(x, axis, start, stop, step), expected, 0);
    }
  }
  SUBCASE("contiguous slices returned directly") {
    auto f = z::jit([](Tensor t, int64_t axis, int64_t start, int64_t stop, int64_t step) {
      return z::slice(t, axis, start, stop, step);
    });
    for (const auto& [axis, start, stop, step] : kContiguousSlices) {
      INFO("slice axis ", axis, " [", start, ":", stop, ":", step, "]");
      check_close(f(x, axis, start, stop, step), reference_slice(x, axis, start, stop, step), 0);
    }
  }
}

// A strided slice returned as a result is copied out of a strided view: this needs the copy to
// become loops (memref.copy would call memrefCopy from MLIR's runner utilities).
TEST_CASE("strided slices returned directly, and empty slices are rejected") {
  Array x = random_floats(88, {5, 7, 3});
  auto f = z::jit([](Tensor t, int64_t axis, int64_t start, int64_t stop, int64_t step) {
    return z::slice(t, axis, start, stop, step);
  });
  for (const auto& [axis, start, stop, step] : kStridedSlices) {
    INFO("slice axis ", axis, " [", start, ":", stop, ":", step, "]");
    check_close(f(x, axis, start, stop, step), reference_slice(x, axis, start, stop, step), 0);
  }
  // x[:, 6:2] has extent 0 in numpy; zephyr has no empty tensors and says so.
  CHECK_THROWS_WITH(f(x, int64_t{1}, int64_t{6}, int64_t{2}, int64_t{1}),
                    doctest::Contains("[slice] [6:2:1] of axis 1 (extent 7) is empty"));
}

TEST_CASE("concat of three tensors along axis 0") {
  auto f = z::jit([](Tensor a, Tensor b, Tensor c, int64_t axis) { return z::concat({a, b, c}, axis); });
  SUBCASE("f32, returned directly") {
    std::vector<Array> xs = {random_floats(89, {2, 3}), random_floats(90, {1, 3}), random_floats(91, {4, 3})};
    check_close(f(xs[0], xs[1], xs[2], int64_t{0}), reference_concat(xs, 0), 0);
  }
  SUBCASE("i32, rank 3, negative axis, feeding another op") {
    std::vector<Array> xs = {random_ints(95, {1, 2, 3}, -9, 9), random_ints(96, {3, 2, 3}, -9, 9),
                             random_ints(97, {2, 2, 3}, -9, 9)};
    auto g = z::jit([](Tensor a, Tensor b, Tensor c) { return z::concat({a, b, c}, -3) * 2.0; });
    Reference expected = reference_concat(xs, 0);
    for (double& v : expected.values) v *= 2;
    check_close(g(xs[0], xs[1], xs[2]), expected, 0);
  }
}

TEST_CASE("concat of three tensors along axis -1 and a middle axis") {
  auto f = z::jit([](Tensor a, Tensor b, Tensor c, int64_t axis) { return z::concat({a, b, c}, axis); });
  SUBCASE("axis -1") {
    std::vector<Array> xs = {random_floats(92, {2, 3, 1}), random_floats(93, {2, 3, 4}), random_floats(94, {2, 3, 2})};
    check_close(f(xs[0], xs[1], xs[2], int64_t{-1}), reference_concat(xs, -1), 0);
  }
  SUBCASE("i32, axis 1") {
    std::vector<Array> xs = {random_ints(95, {2, 1, 3}, -9, 9), random_ints(96, {2, 2, 3}, -9, 9),
                             random_ints(97, {2, 5, 3}, -9, 9)};
    check_close(f(xs[0], xs[1], xs[2], int64_t{1}), reference_concat(xs, 1), 0);
  }
}

// =============================================================================================
// Leaves: iota, full, scalar, constant
// =============================================================================================

TEST_CASE("iota counts along its axis") {
  for (DType dtype : {DType::i32, DType::f32, DType::f64}) {
    auto f = z::jit([](Shape shape, int64_t axis, DType d) { return z::iota(shape, axis, d); });
    for (const auto& [shape, axis] :
         std::vector<std::pair<Shape, int64_t>>{{{3, 4}, 0}, {{3, 4}, -1}, {{2, 3, 4}, 1}, {{9}, 0}}) {
      INFO("iota(", str(shape), ", axis ", axis, ", ", z::name(dtype), ")");
      Reference expected{shape, dtype, {}};
      for (int64_t i = 0; i < count(shape); ++i)
        expected.values.push_back(
            static_cast<double>(unravel(i, shape)[normalized(axis, static_cast<int64_t>(shape.size()))]));
      check_close(f(shape, axis, dtype), expected, 0);
    }
  }
}

TEST_CASE("full, scalar and constant embed their values") {
  SUBCASE("full") {
    auto f = z::jit([](Shape shape, double value, DType d) { return z::full(shape, value, d); });
    check_close(f(Shape{2, 3}, 1.5, DType::f32), {{2, 3}, DType::f32, std::vector<double>(6, 1.5)}, 0);
    check_close(f(Shape{4}, -7.0, DType::i32), {{4}, DType::i32, std::vector<double>(4, -7)}, 0);
    check_close(f(Shape{2, 2, 2}, 0.1, DType::f64), {{2, 2, 2}, DType::f64, std::vector<double>(8, 0.1)}, 0);
  }
  SUBCASE("scalar") {
    auto f = z::jit([](double value, DType d) { return z::scalar(value, d); });
    check_close(f(2.5, DType::f64), {{}, DType::f64, {2.5}}, 0);
    check_close(f(-3.0, DType::i32), {{}, DType::i32, {-3}}, 0);
  }
  SUBCASE("full and scalar combined with an input") {
    auto f = z::jit([](Tensor x) { return z::add(x, z::full({4}, 0.5)) * z::scalar(3.0); });
    Array x = random_floats(101, {3, 4});
    check_close(f(x), reference_unary(x, DType::f32, [](double v) { return (v + 0.5) * 3.0; }));
  }
  SUBCASE("constant") {
    Array c = random_floats(102, {3, 4}, DType::f64);
    Array ci = random_ints(103, {2, 5}, -9, 9);
    check_close(z::jit([&c] { return z::constant(c); })(), with_shape(c, c.shape()), 0);
    Array x = random_floats(104, {2, 3, 4}, DType::f64);
    check_close(z::jit([&c](Tensor t) { return t - z::constant(c); })(x),
                reference_broadcast_binary(x, c, DType::f64, [](double a, double b) { return a - b; }));
    Array xi = random_ints(105, {2, 5}, -9, 9);
    check_close(z::jit([&ci](Tensor t) { return t * z::constant(ci); })(xi),
                reference_broadcast_binary(xi, ci, DType::i32, [](double a, double b) { return a * b; }), 0);
  }
}

// =============================================================================================
// Ops that reduce to the identity: the compiled function returns its argument unchanged
// =============================================================================================

// These ops return their input Tensor unchanged, so the compiled function returns an argument:
// the emitter copies it into a result buffer of its own.
TEST_CASE("identity reshape, transpose, cast, squeeze, broadcast_to and slice return the input") {
  Array x = random_floats(111, {3, 4});
  Reference same = with_shape(x, x.shape());
  check_close(z::jit([](Tensor t) { return z::reshape(t, {3, 4}); })(x), same, 0);
  check_close(z::jit([](Tensor t) { return z::transpose(t, {0, 1}); })(x), same, 0);
  check_close(z::jit([](Tensor t) { return z::cast(t, DType::f32); })(x), same, 0);
  check_close(z::jit([](Tensor t) { return z::squeeze(t); })(x), same, 0);
  check_close(z::jit([](Tensor t) { return z::broadcast_to(t, {3, 4}); })(x), same, 0);
  check_close(z::jit([](Tensor t) { return z::slice(t, 0, 0, 3); })(x), same, 0);
}

// =============================================================================================
// Chains of ops
// =============================================================================================

TEST_CASE("chain: softmax(relu(x @ w + b))") {
  auto f = z::jit([](Tensor x, Tensor w, Tensor b) { return z::softmax(z::relu(z::matmul(x, w) + b)); });
  for (DType dtype : {DType::f32, DType::f64}) {
    Array x = random_floats(121, {16, 20}, dtype, -1, 1), w = random_floats(122, {20, 10}, dtype, -1, 1);
    Array b = random_floats(123, {10}, dtype, -0.5, 0.5);
    Reference h = reference_matmul(x, w);
    for (size_t i = 0; i < h.values.size(); ++i) h.values[i] = std::max(0.0, h.values[i] + b.at(i % 10));
    Reference expected = reference_along_axis(array_of(h.shape, h.values, DType::f64), -1, lane_softmax);
    expected.dtype = dtype;
    INFO(z::name(dtype));
    check_close(f(x, w, b), expected);
  }
}

TEST_CASE("chain: layer norm, gelu MLP and a residual, with two results") {
  // y = x + gelu(layernorm(x) @ w1) @ w2; also returns logsumexp over the features of y.
  auto f = z::jit([](Tensor x, Tensor w1, Tensor w2, Tensor gamma) {
    Tensor centered = x - z::mean(x, {-1}, true);
    Tensor normed = centered * z::rsqrt(z::var(x, {-1}, true) + 1e-5) * gamma;
    Tensor y = x + z::matmul(z::gelu(z::matmul(normed, w1)), w2);
    return std::tuple<Tensor, Tensor>{y, z::logsumexp(y, {-1})};
  });
  const int64_t rows = 6, d = 12, hidden = 24;
  Array x = random_floats(131, {rows, d}), w1 = random_floats(132, {d, hidden}, DType::f32, -0.5, 0.5);
  Array w2 = random_floats(133, {hidden, d}, DType::f32, -0.5, 0.5);
  Array gamma = random_floats(134, {d}, DType::f32, 0.5, 1.5);

  // The reference, in double, with intermediates held in f64 Arrays.
  std::vector<double> normed(rows * d);
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<double> row;
    for (int64_t c = 0; c < d; ++c) row.push_back(x.at(r * d + c));
    double m = group_mean(row), inv = 1.0 / std::sqrt(group_var(row) + 1e-5);
    for (int64_t c = 0; c < d; ++c) normed[r * d + c] = (row[c] - m) * inv * gamma.at(c);
  }
  Reference h = reference_matmul(array_of({rows, d}, normed, DType::f64), w1);
  for (double& v : h.values) v = gelu_reference(v);
  Reference y = reference_matmul(array_of(h.shape, h.values, DType::f64), w2);
  for (int64_t i = 0; i < rows * d; ++i) y.values[i] += x.at(i);
  Reference lse = reference_reduce(array_of(y.shape, y.values, DType::f64), {-1}, false, group_logsumexp);
  y.dtype = lse.dtype = DType::f32;

  auto [y_out, lse_out] = f(x, w1, w2, gamma);
  check_close(y_out, y);
  check_close(lse_out, lse);
}

// =============================================================================================
// The jit cache
// =============================================================================================

TEST_CASE("jit compiles once per argument signature") {
  auto f = z::jit([](Tensor a, Tensor b) { return z::add(a, b); });
  Array a = random_floats(141, {2, 3}), b = random_floats(142, {3});
  Reference expected = reference_broadcast_binary(a, b, DType::f32, [](double x, double y) { return x + y; });
  check_close(f(a, b), expected);
  CHECK(f.cache_size() == 1);
  check_close(f(a, b), expected);
  CHECK(f.cache_size() == 1);
  // New values with the same shapes reuse the entry.
  Array a2 = random_floats(143, {2, 3});
  check_close(f(a2, b), reference_broadcast_binary(a2, b, DType::f32, [](double x, double y) { return x + y; }));
  CHECK(f.cache_size() == 1);
  // A new shape compiles again; so does a new dtype.
  Array c = random_floats(144, {4, 3});
  check_close(f(c, b), reference_broadcast_binary(c, b, DType::f32, [](double x, double y) { return x + y; }));
  CHECK(f.cache_size() == 2);
  Array d = random_floats(145, {4, 3}, DType::f64), e = random_floats(146, {3}, DType::f64);
  check_close(f(d, e), reference_broadcast_binary(d, e, DType::f64, [](double x, double y) { return x + y; }));
  CHECK(f.cache_size() == 3);
  f(a, b);
  CHECK(f.cache_size() == 3);

  // A plain-value argument is a compile-time constant and part of the key.
  auto g = z::jit([](Tensor x, std::vector<int64_t> axes) { return z::sum(x, axes, true); });
  g(c, std::vector<int64_t>{-1});
  g(c, std::vector<int64_t>{-1});
  CHECK(g.cache_size() == 1);
  check_close(g(c, std::vector<int64_t>{0}), reference_reduce(c, {0}, true, group_sum));
  CHECK(g.cache_size() == 2);
}
