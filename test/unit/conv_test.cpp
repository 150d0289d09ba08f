// The window and indexing primitives (pad, reverse, strided_slice, take, scatter_add) and the
// composites built on them (conv, window_max, window_sum, same_padding), jit-compiled and
// compared with references written here as plain loops over the input Arrays; their gradients
// against central finite differences in f64; and the traced random numbers against the host's.
#include <doctest/doctest.h>
#include <zephyr/ops.h>
#include <zephyr/random_ops.h>
#include <zephyr/zephyr.h>

#include "reference.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "test_support.h"

namespace z = zephyr;
using z::Array;
using z::DType;
using z::Shape;
using z::Tensor;

namespace {

using namespace zephyr::testing;  // count, ravel, unravel, random_array, Ref, check_close

Array i32_array(const Shape& shape, const std::vector<int32_t>& values) { return Array::from<int32_t>(shape, values); }

// ---- References ------------------------------------------------------------------------------

// XLA's pad: low, high, interior per axis.
Ref ref_pad(const Array& x, const Shape& low, const Shape& high, const Shape& interior, double value) {
  Shape out_shape(x.ndim());
  for (int64_t i = 0; i < x.ndim(); ++i) {
    int64_t n = x.shape(i);
    out_shape[i] = low[i] + high[i] + n + (n > 0 ? (n - 1) * interior[i] : 0);
  }
  Ref r{out_shape, std::vector<double>(count(out_shape), value)};
  for (int64_t f = 0; f < count(out_shape); ++f) {
    Shape j = unravel(f, out_shape), src(x.ndim());
    bool inside = true;
    for (int64_t i = 0; i < x.ndim() && inside; ++i) {
      int64_t q = j[i] - low[i], step = interior[i] + 1;
      if (q < 0 || q % step != 0 || q / step >= x.shape(i)) inside = false;
      else src[i] = q / step;
    }
    if (inside) r.values[f] = x.at(ravel(src, x.shape()));
  }
  return r;
}

Ref ref_reverse(const Array& x, const std::vector<int64_t>& axes) {
  Ref r{x.shape(), std::vector<double>(x.size())};
  for (int64_t f = 0; f < x.size(); ++f) {
    Shape j = unravel(f, x.shape());
    for (int64_t a : axes) {
      int64_t ax = a < 0 ? a + x.ndim() : a;
      j[ax] = x.shape(ax) - 1 - j[ax];
    }
    r.values[f] = x.at(ravel(j, x.shape()));
  }
  return r;
}

Ref ref_strided_slice(const Array& x, const Shape& starts, const Shape& sizes, const Shape& strides) {
  Ref r{sizes, std::vector<double>(count(sizes))};
  for (int64_t f = 0; f < count(sizes); ++f) {
    Shape j = unravel(f, sizes);
    for (size_t i = 0; i < j.size(); ++i) j[i] = starts[i] + j[i] * strides[i];
    r.values[f] = x.at(ravel(j, x.shape()));
  }
  return r;
}

Ref ref_take(const Array& table, const Array& ids) {
  Shape row(table.shape().begin() + 1, table.shape().end());
  Shape out = ids.shape();
  out.insert(out.end(), row.begin(), row.end());
  int64_t width = count(row);
  Ref r{out, std::vector<double>(count(out))};
  for (int64_t i = 0; i < ids.size(); ++i) {
    int64_t id = static_cast<int64_t>(ids.at(i));
    for (int64_t c = 0; c < width; ++c) r.values[i * width + c] = table.at(id * width + c);
  }
  return r;
}

Ref ref_scatter_add(const Array& ids, const Array& updates, int64_t rows) {
  Shape row(updates.shape().begin() + ids.ndim(), updates.shape().end());
  Shape out{rows};
  out.insert(out.end(), row.begin(), row.end());
  int64_t width = count(row);
  Ref r{out, std::vector<double>(count(out), 0.0)};
  for (int64_t i = 0; i < ids.size(); ++i) {
    int64_t id = static_cast<int64_t>(ids.at(i));
    for (int64_t c = 0; c < width; ++c) r.values[id * width + c] += updates.at(i * width + c);
  }
  return r;
}
Ref ref_conv(const Array& x, const Array& w, const z::ConvSpec& spec) {
  std::vector<double> values(w.size());
  for (int64_t i = 0; i < w.size(); ++i) values[i] = w.at(i);
  return reference_conv(x, values, w.shape(), spec);
}

// Max or sum over windows on every axis; out-of-range positions are the identity.
Ref ref_window(const Array& x, const Shape& window, const Shape& strides, const z::Padding& padding, bool is_max) {
  int64_t rank = x.ndim();
  Shape out(rank);
  for (int64_t i = 0; i < rank; ++i) {
    int64_t lo = padding.empty() ? 0 : padding[i].first, hi = padding.empty() ? 0 : padding[i].second;
    out[i] = (x.shape(i) + lo + hi - window[i]) / strides[i] + 1;
  }
  double identity = is_max ? -std::numeric_limits<double>::infinity() : 0.0;
  Ref r{out, std::vector<double>(count(out), identity)};
  Shape src(rank);
  for (int64_t f = 0; f < count(out); ++f) {
    Shape o = unravel(f, out);
    double acc = identity;
    for (int64_t kf = 0; kf < count(window); ++kf) {
      Shape k = unravel(kf, window);
      bool inside = true;
      for (int64_t i = 0; i < rank && inside; ++i) {
        int64_t lo = padding.empty() ? 0 : padding[i].first;
        int64_t q = o[i] * strides[i] + k[i] - lo;
        if (q < 0 || q >= x.shape(i)) inside = false;
        else src[i] = q;
      }
      if (!inside) continue;
      double v = x.at(ravel(src, x.shape()));
      acc = is_max ? std::max(acc, v) : acc + v;
    }
    r.values[f] = acc;
  }
  return r;
}

// ---- Gradients: central finite differences in f64 (as grad_test.cpp) ----------------------------

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// loss(xs) = sum(f(xs) * weights) with a fixed random cotangent.
struct Check {
  Fn f;
  std::vector<Array> inputs;

  Tensor loss(const std::vector<Tensor>& xs, const Array& weights) const {
    return z::sum(z::cast(f(xs), DType::f64) * z::constant(weights));
  }

  void run(const std::string& what, double tol = 1e-6) const {
    INFO(what);
    std::vector<Tensor> probe;
    for (const Array& a : inputs) probe.push_back(z::detail::symbolic_input(a, "x"));
    Tensor out = f(probe);
    Array weights = random_array(out.shape(), 99, DType::f64);
    auto gradients = z::jit([&](const std::vector<Tensor>& xs) -> std::vector<Tensor> {
      return z::vjp(loss(xs, weights), z::scalar(1.0, DType::f64), xs);
    });
    auto value = z::jit([&](const std::vector<Tensor>& xs) { return loss(xs, weights); });
    std::vector<Array> grads = gradients(inputs);
    REQUIRE(grads.size() == inputs.size());
    const double h = 1e-6;
    int bad = 0;
    for (size_t k = 0; k < inputs.size(); ++k) {
      REQUIRE(grads[k].shape() == inputs[k].shape());
      for (int64_t i = 0; i < inputs[k].size(); ++i) {
        std::vector<Array> plus = copies(), minus = copies();
        plus[k].data<double>()[i] += h;
        minus[k].data<double>()[i] -= h;
        double numeric = (value(plus).at(0) - value(minus).at(0)) / (2 * h);
        double analytic = grads[k].at(i);
        if (std::abs(analytic - numeric) > tol * std::max(1.0, std::abs(numeric)) && bad++ < 5)
          CHECK_MESSAGE(false, what << ": input " << k << " element " << i << ": analytic " << analytic
                                    << ", numeric " << numeric);
      }
    }
    CHECK_MESSAGE(bad == 0, what << ": " << bad << " gradient elements differ");
  }

 private:
  std::vector<Array> copies() const {
    std::vector<Array> out;
    for (const Array& a : inputs) out.push_back(a.clone());
    return out;
  }
};

}  // namespace

// =============================================================================================
// Forward: primitives
// =============================================================================================

TEST_CASE("conv_test pad: edge and interior padding with a pad value, f32 and f64, negative values too") {
  Array x = random_array({2, 3, 4}, 1);
  {
    auto f = z::jit([](Tensor t) { return z::pad(t, {1, 0, 2}, {0, 2, 1}); });
    check_close(f(x), ref_pad(x, {1, 0, 2}, {0, 2, 1}, {0, 0, 0}, 0.0), 0, "edge padding with zeros");
  }
  {
    auto f = z::jit([](Tensor t) { return z::pad(t, {0, 1, 1}, {1, 0, 2}, {1, 2, 0}, -3.5); });
    check_close(f(x), ref_pad(x, {0, 1, 1}, {1, 0, 2}, {1, 2, 0}, -3.5), 0, "edge + interior padding with -3.5");
  }
  {
    Array x64 = random_array({3, 2}, 2, DType::f64);
    auto f = z::jit([](Tensor t) { return z::pad(t, {0, 0}, {0, 0}, {2, 1}, 7.0); });
    Array y = f(x64);
    CHECK(y.dtype() == DType::f64);
    check_close(y, ref_pad(x64, {0, 0}, {0, 0}, {2, 1}, 7.0), 0, "interior only, f64");
  }
  {
    // A size-1 axis gets no interior padding.
    Array one = random_array({1, 3}, 3);
    auto f = z::jit([](Tensor t) { return z::pad(t, {1, 0}, {1, 0}, {3, 1}, 2.0); });
    check_close(f(one), ref_pad(one, {1, 0}, {1, 0}, {3, 1}, 2.0), 0, "interior on a size-1 axis");
  }
}

TEST_CASE("conv_test reverse flips the given axes, negative axes included") {
  Array x = random_array({2, 3, 4}, 4);
  check_close(z::jit([](Tensor t) { return z::reverse(t, {1}); })(x), ref_reverse(x, {1}), 0, "axis 1");
  check_close(z::jit([](Tensor t) { return z::reverse(t, {0, -1}); })(x), ref_reverse(x, {0, -1}), 0, "axes 0, -1");
  check_close(z::jit([](Tensor t) { return z::reverse(t, {0, 1, 2}); })(x), ref_reverse(x, {0, 1, 2}), 0, "all");
}

TEST_CASE("conv_test strided_slice picks sizes elements from starts, strides apart, on every axis") {
  Array x = random_array({5, 7, 3}, 5);
  auto f = z::jit([](Tensor t) { return z::strided_slice(t, {1, 0, 2}, {2, 3, 1}, {3, 2, 1}); });
  check_close(f(x), ref_strided_slice(x, {1, 0, 2}, {2, 3, 1}, {3, 2, 1}), 0, "strided");
  auto g = z::jit([](Tensor t) { return z::strided_slice(t, {0, 6, 0}, {5, 1, 3}, {1, 1, 1}); });
  check_close(g(x), ref_strided_slice(x, {0, 6, 0}, {5, 1, 3}, {1, 1, 1}), 0, "unit strides, last column");
}

TEST_CASE("conv_test take gathers rows of a table by i32 ids, for 1-D and 2-D ids and a 3-D table") {
  Array table = random_array({5, 4}, 6);
  Array ids = i32_array({6}, {4, 0, 2, 2, 1, 4});
  auto f = z::jit([](Tensor t, Tensor i) { return z::take(t, i); });
  check_close(f(table, ids), ref_take(table, ids), 0, "1-D ids");
  Array ids2 = i32_array({2, 3}, {3, 3, 0, 1, 4, 2});
  check_close(f(table, ids2), ref_take(table, ids2), 0, "2-D ids");
  Array table3 = random_array({4, 2, 3}, 7, DType::f64);
  Array ids3 = i32_array({3}, {3, 0, 3});
  check_close(f(table3, ids3), ref_take(table3, ids3), 0, "3-D table, f64");
  Array vec = random_array({6}, 8);
  Array y = f(vec, ids2);
  CHECK(y.shape() == Shape{2, 3});
  check_close(y, ref_take(vec, ids2), 0, "1-D table: scalars");
}

TEST_CASE("conv_test scatter_add sums the updates of repeated ids, and leaves other rows zero") {
  Array ids = i32_array({5}, {1, 3, 1, 1, 0});
  Array updates = random_array({5, 3}, 9);
  auto f = z::jit([](Tensor i, Tensor u) { return z::scatter_add(i, u, 6); });
  check_close(f(ids, updates), ref_scatter_add(ids, updates, 6), 1e-6, "1-D ids, rows of 3");
  Array ids2 = i32_array({2, 2}, {2, 2, 0, 2});
  Array updates2 = random_array({2, 2, 2, 2}, 10, DType::f64);
  auto g = z::jit([](Tensor i, Tensor u) { return z::scatter_add(i, u, 3); });
  check_close(g(ids2, updates2), ref_scatter_add(ids2, updates2, 3), 1e-12, "2-D ids, 2x2 rows, f64");
  Array scalars = random_array({5}, 11);
  check_close(z::jit([](Tensor i, Tensor u) { return z::scatter_add(i, u, 4); })(ids, scalars),
              ref_scatter_add(ids, scalars, 4), 1e-6, "scalar updates");
}

TEST_CASE("conv_test scatter_add is the transpose of take: sum(take(t, ids) * u) == sum(t * scatter_add(ids, u))") {
  Array table = random_array({4, 3}, 12, DType::f64);
  Array ids = i32_array({6}, {0, 3, 3, 1, 0, 3});
  Array u = random_array({6, 3}, 13, DType::f64);
  auto lhs = z::jit([](Tensor t, Tensor i, Tensor v) { return z::sum(z::take(t, i) * v); });
  auto rhs = z::jit([](Tensor t, Tensor i, Tensor v) { return z::sum(t * z::scatter_add(i, v, 4)); });
  CHECK(lhs(table, ids, u).item<double>() == doctest::Approx(rhs(table, ids, u).item<double>()).epsilon(1e-12));
}

// =============================================================================================
// Forward: convolution
// =============================================================================================

TEST_CASE("conv_test same_padding gives the SAME (low, high) pads, with strides and dilation") {
  using P = z::Padding;
  CHECK(z::same_padding({5}, {3}, {1}) == P{{1, 1}});
  CHECK(z::same_padding({5}, {3}, {2}) == P{{1, 1}});
  CHECK(z::same_padding({6}, {3}, {2}) == P{{0, 1}});
  CHECK(z::same_padding({6}, {4}, {1}) == P{{1, 2}});
  CHECK(z::same_padding({7}, {1}, {3}) == P{{0, 0}});
  CHECK(z::same_padding({4}, {5}, {4}) == P{{0, 1}});  // (1-1)*4+5-4 = 1
  CHECK(z::same_padding({5}, {3}, {1}, {2}) == P{{2, 2}});  // dilated extent 5
  CHECK(z::same_padding({8, 5}, {2, 3}, {2, 1}) == P{{0, 0}, {1, 1}});
  CHECK(z::same_padding({8, 5}, {2, 3}, {}) == P{{0, 1}, {1, 1}});  // empty strides: 1
}

TEST_CASE("conv_test conv 1-D: plain, strided, padded, dilated kernel and input dilation") {
  Array x = random_array({2, 9, 3}, 20);
  Array w = random_array({3, 3, 4}, 21);
  std::vector<std::pair<std::string, z::ConvSpec>> specs = {
      {"plain", {}},
      {"stride 2", {{2}, {}, {}, {}, 1}},
      {"padding (2, 1)", {{1}, {{2, 1}}, {}, {}, 1}},
      {"stride 3, padding (1, 2)", {{3}, {{1, 2}}, {}, {}, 1}},
      {"kernel dilation 2", {{1}, {{1, 1}}, {}, {2}, 1}},
      {"input dilation 2, padding (2, 2)", {{1}, {{2, 2}}, {2}, {}, 1}},
      {"input dilation 3, stride 2, kernel dilation 2, padding (1, 0)", {{2}, {{1, 0}}, {3}, {2}, 1}},
  };
  for (const auto& [name, spec] : specs) {
    auto f = z::jit([spec = spec](Tensor a, Tensor b) { return z::conv(a, b, spec); });
    check_close(f(x, w), ref_conv(x, w, spec), 1e-5, name);
  }
}

TEST_CASE("conv_test conv 2-D: strides, asymmetric padding, dilations and SAME padding") {
  Array x = random_array({2, 6, 5, 3}, 22);
  Array w = random_array({3, 2, 3, 4}, 23);
  std::vector<std::pair<std::string, z::ConvSpec>> specs = {
      {"valid", {}},
      {"strides (2, 1)", {{2, 1}, {}, {}, {}, 1}},
      {"padding ((1, 0), (2, 1))", {{1, 1}, {{1, 0}, {2, 1}}, {}, {}, 1}},
      {"strides (2, 3), padding ((1, 1), (0, 2))", {{2, 3}, {{1, 1}, {0, 2}}, {}, {}, 1}},
      {"kernel dilation (2, 2)", {{1, 1}, {{0, 0}, {1, 1}}, {}, {2, 2}, 1}},
      {"input dilation (2, 1)", {{1, 1}, {{2, 2}, {1, 0}}, {2, 1}, {}, 1}},
      {"SAME, stride 2", {{2, 2}, z::same_padding({6, 5}, {3, 2}, {2, 2}), {}, {}, 1}},
  };
  for (const auto& [name, spec] : specs) {
    auto f = z::jit([spec = spec](Tensor a, Tensor b) { return z::conv(a, b, spec); });
    check_close(f(x, w), ref_conv(x, w, spec), 1e-5, name);
  }
  // SAME keeps ceil(input / stride).
  auto same = z::jit([](Tensor a, Tensor b) {
    return z::conv(a, b, {{2, 2}, z::same_padding({6, 5}, {3, 2}, {2, 2}), {}, {}, 1});
  });
  CHECK(same(x, w).shape() == Shape{2, 3, 3, 4});
}

TEST_CASE("conv_test conv with groups: two groups, and depthwise (groups = channels, multiplier 2)") {
  Array x = random_array({2, 5, 4, 4}, 24);
  {
    Array w = random_array({2, 3, 2, 6}, 25);  // in / groups = 2, out 6 = 2 groups of 3
    z::ConvSpec spec{{1, 2}, {{1, 0}, {1, 1}}, {}, {}, 2};
    check_close(z::jit([spec](Tensor a, Tensor b) { return z::conv(a, b, spec); })(x, w), ref_conv(x, w, spec), 1e-5,
                "groups = 2");
  }
  {
    Array w = random_array({3, 3, 1, 8}, 26);  // depthwise: 1 input channel per group, 2 outputs each
    z::ConvSpec spec{{1, 1}, {{1, 1}, {1, 1}}, {}, {}, 4};
    check_close(z::jit([spec](Tensor a, Tensor b) { return z::conv(a, b, spec); })(x, w), ref_conv(x, w, spec), 1e-5,
                "depthwise");
  }
  {
    Array x1 = random_array({1, 7, 6}, 27, DType::f64);
    Array w1 = random_array({2, 2, 9}, 28, DType::f64);  // 3 groups: 2 in, 3 out each
    z::ConvSpec spec{{2}, {{0, 1}}, {}, {}, 3};
    check_close(z::jit([spec](Tensor a, Tensor b) { return z::conv(a, b, spec); })(x1, w1), ref_conv(x1, w1, spec),
                1e-12, "1-D, 3 groups, f64");
  }
}

TEST_CASE("conv_test conv 3-D with stride and padding") {
  Array x = random_array({1, 4, 5, 3, 2}, 29);
  Array w = random_array({2, 3, 2, 2, 3}, 30);
  z::ConvSpec spec{{2, 1, 1}, {{0, 1}, {1, 1}, {0, 0}}, {}, {1, 2, 1}, 1};
  check_close(z::jit([spec](Tensor a, Tensor b) { return z::conv(a, b, spec); })(x, w), ref_conv(x, w, spec), 1e-5,
              "3-D");
}

TEST_CASE("conv_test conv errors name the op and the shapes") {
  auto conv_of = [](z::ConvSpec spec) {
    return [spec](Tensor a, Tensor b) { return z::conv(a, b, spec); };
  };
  Array x = Array::ones({1, 4, 4, 3}), w = Array::ones({2, 2, 3, 2});
  CHECK_ERROR(z::jit(conv_of({}))(Array::ones({4, 4, 3}), w), "[conv]", "[4, 4, 3]", "[2, 2, 3, 2]");
  CHECK_ERROR(z::jit(conv_of({{}, {}, {}, {}, 2}))(x, Array::ones({2, 2, 1, 2})), "[conv]", "3", "2 groups");
  CHECK_ERROR(z::jit(conv_of({}))(x, Array::ones({5, 2, 3, 2})), "[conv]", "larger than the padded input");
  CHECK_ERROR(z::jit(conv_of({}))(x, Array::ones({2, 2, 4, 2})), "[conv]", "[2, 2, 4, 2]");
  CHECK_ERROR(z::jit(conv_of({{1}, {}, {}, {}, 1}))(x, w), "[conv]", "strides");
  CHECK_ERROR(z::jit(conv_of({}))(x, Array::ones({2, 2, 3, 2}, DType::f64)), "[conv]", "f64[2, 2, 3, 2]");
}

// =============================================================================================
// Forward: windows
// =============================================================================================

TEST_CASE("conv_test window_max and window_sum: windows, strides and padding with the identity") {
  Array x = random_array({2, 7, 6, 3}, 31);
  struct Case {
    std::string name;
    Shape window, strides;
    z::Padding padding;
  };
  std::vector<Case> cases = {
      {"2x2 stride 2, no padding", {1, 2, 2, 1}, {1, 2, 2, 1}, {}},
      {"3x2 stride 1", {1, 3, 2, 1}, {1, 1, 1, 1}, {{0, 0}, {0, 0}, {0, 0}, {0, 0}}},
      {"3x3 stride 2, SAME-like padding", {1, 3, 3, 1}, {1, 2, 2, 1}, {{0, 0}, {1, 1}, {1, 1}, {0, 0}}},
      {"asymmetric padding, window over channels too", {1, 2, 3, 2}, {1, 3, 1, 1}, {{0, 0}, {0, 2}, {2, 0}, {1, 0}}},
      {"window over the batch axis", {2, 1, 1, 1}, {1, 1, 1, 1}, {}},
      {"tiling windows over batch and width only", {2, 1, 2, 1}, {2, 1, 2, 1}, {}},
      {"1x1 windows, padded", {1, 1, 1, 1}, {1, 1, 1, 1}, {{0, 0}, {1, 0}, {0, 2}, {0, 0}}},
  };
  for (const Case& c : cases) {
    auto mx = z::jit([c](Tensor t) { return z::window_max(t, c.window, c.strides, c.padding); });
    auto sm = z::jit([c](Tensor t) { return z::window_sum(t, c.window, c.strides, c.padding); });
    check_close(mx(x), ref_window(x, c.window, c.strides, c.padding, true), 0, "window_max " + c.name);
    check_close(sm(x), ref_window(x, c.window, c.strides, c.padding, false), 1e-6, "window_sum " + c.name);
  }
  // Padding with the identity: an all-negative input's max never picks up a padded zero.
  Array negative = random_array({5, 5}, 32, DType::f32, -3, -1);
  auto mx = z::jit([](Tensor t) { return z::window_max(t, {3, 3}, {1, 1}, {{2, 2}, {2, 2}}); });
  Array y = mx(negative);
  check_close(y, ref_window(negative, {3, 3}, {1, 1}, {{2, 2}, {2, 2}}, true), 0, "all-negative, wide padding");
  for (int64_t i = 0; i < y.size(); ++i) CHECK(y.at(i) < 0);
}

TEST_CASE("conv_test window errors: window larger than the padded input, wrong counts") {
  CHECK_ERROR(z::jit([](Tensor t) { return z::window_max(t, {1, 4}, {1, 1}, {}); })(Array::ones({2, 3})), "[2, 3]",
              "larger than the padded input");
  CHECK_ERROR(z::jit([](Tensor t) { return z::window_sum(t, {1, 4}, {1, 1}, {}); })(Array::ones({2, 3})), "[2, 3]",
              "larger than the padded input");
  CHECK_ERROR(z::jit([](Tensor t) { return z::window_sum(t, {2}, {1}, {}); })(Array::ones({2, 3})), "[2, 3]");
}

// =============================================================================================
// Gradients (f64, central finite differences)
// =============================================================================================

TEST_CASE("conv_test pad, reverse and strided_slice VJPs match finite differences") {
  Array x = random_array({2, 3, 2}, 40, DType::f64);
  Check{[](auto& v) { return z::pad(v[0], {1, 0, 2}, {0, 1, 1}, {1, 2, 0}, 0.5); }, {x}}.run("pad");
  Check{[](auto& v) { return z::pad(v[0], {0, 0, 0}, {0, 0, 0}, {0, 1, 1}, -1.0); }, {x}}.run("pad interior");
  Check{[](auto& v) { return z::reverse(v[0], {0, 2}); }, {x}}.run("reverse");
  Check{[](auto& v) { return z::strided_slice(v[0], {0, 1, 1}, {2, 1, 1}, {1, 2, 1}); }, {x}}.run("strided_slice");
}

TEST_CASE("conv_test take and scatter_add VJPs match finite differences (repeated ids)") {
  Array ids = i32_array({2, 3}, {1, 3, 1, 0, 1, 3});
  Array table = random_array({4, 3}, 41, DType::f64);
  Check{[ids](auto& v) { return z::take(v[0], z::constant(ids)); }, {table}}.run("take w.r.t. the table");
  Array updates = random_array({2, 3, 2}, 42, DType::f64);
  Check{[ids](auto& v) { return z::scatter_add(z::constant(ids), v[0], 5); }, {updates}}.run(
      "scatter_add w.r.t. the updates");
}

TEST_CASE("conv_test conv VJPs match finite differences w.r.t. input and kernel: stride 2, padding, groups 2") {
  Array x = random_array({2, 5, 4, 4}, 43, DType::f64);
  Array w = random_array({3, 2, 2, 4}, 44, DType::f64);
  z::ConvSpec spec{{2, 2}, {{1, 1}, {0, 1}}, {}, {}, 2};
  Check{[spec](auto& v) { return z::conv(v[0], v[1], spec); }, {x, w}}.run("conv 2-D stride 2, groups 2");
  Array x1 = random_array({1, 5, 2}, 45, DType::f64);
  Array w1 = random_array({2, 2, 3}, 46, DType::f64);
  z::ConvSpec dilated{{1}, {{1, 2}}, {2}, {2}, 1};
  Check{[dilated](auto& v) { return z::conv(v[0], v[1], dilated); }, {x1, w1}}.run("conv 1-D with both dilations");
}

TEST_CASE("conv_test window_max and window_sum VJPs match finite differences") {
  Array x = random_array({2, 5, 4, 2}, 47, DType::f64);  // continuous random values: no ties
  Check{[](auto& v) { return z::window_max(v[0], {1, 2, 2, 1}, {1, 2, 2, 1}, {{0, 0}, {0, 1}, {0, 0}, {0, 0}}); },
        {x}}.run("window_max 2x2 stride 2");
  Check{[](auto& v) { return z::window_max(v[0], {1, 3, 3, 1}, {1, 1, 2, 1}, {{0, 0}, {1, 1}, {1, 1}, {0, 0}}); },
        {x}}.run("window_max 3x3 overlapping");
  Check{[](auto& v) { return z::window_sum(v[0], {1, 3, 2, 1}, {1, 2, 1, 1}, {{0, 0}, {1, 1}, {0, 1}, {0, 0}}); },
        {x}}.run("window_sum");
}

// =============================================================================================
// Random numbers inside compiled code equal the host's
// =============================================================================================

TEST_CASE("conv_test random::bits on a key tensor equals host random::bits, odd and even counts") {
  for (uint64_t seed : {0ull, 42ull, 0x123456789abcdefull}) {
    z::random::Key key = z::random::key(seed);
    for (int64_t n : {1, 2, 7, 10, 33}) {
      INFO("seed ", seed, " n ", n);
      Array got = z::jit([n](Tensor k) { return z::random::bits(k, {n}); })(z::random::key_array(key));
      std::vector<uint32_t> want = z::random::bits(key, n);
      REQUIRE(got.dtype() == DType::i32);
      REQUIRE(got.size() == n);
      for (int64_t i = 0; i < n; ++i) CHECK(static_cast<uint32_t>(got.data<int32_t>()[i]) == want[i]);
    }
  }
  // A shaped draw is the flat draw, reshaped.
  z::random::Key key = z::random::key(5);
  Array got = z::jit([](Tensor k) { return z::random::bits(k, {3, 5}); })(z::random::key_array(key));
  CHECK(got.shape() == Shape{3, 5});
  std::vector<uint32_t> want = z::random::bits(key, 15);
  for (int64_t i = 0; i < 15; ++i) CHECK(static_cast<uint32_t>(got.data<int32_t>()[i]) == want[i]);
}

TEST_CASE("conv_test random::uniform on a key tensor equals host random::uniform bit for bit") {
  z::random::Key key = z::random::key(7);
  Array got = z::jit([](Tensor k) { return z::random::uniform(k, {4, 5}); })(z::random::key_array(key));
  Array want = z::random::uniform(key, {4, 5});
  CHECK(got.shape() == want.shape());
  CHECK(got.bitwise_equal(want));
  Array got2 = z::jit([](Tensor k) { return z::random::uniform(k, {7}, -2.0, 3.0); })(z::random::key_array(key));
  Array want2 = z::random::uniform(key, {7}, DType::f32, -2.0, 3.0);
  CHECK(got2.bitwise_equal(want2));
}

TEST_CASE("conv_test random::split and fold_in on key tensors equal the host ones") {
  z::random::Key key = z::random::key(1234);
  for (int n : {2, 3}) {
    std::vector<Array> got =
        z::jit([n](Tensor k) { return z::random::split(k, n); })(z::random::key_array(key));
    std::vector<z::random::Key> want = z::random::split(key, n);
    REQUIRE(got.size() == static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) CHECK(got[i].bitwise_equal(z::random::key_array(want[i])));
  }
  for (uint32_t data : {0u, 1u, 0xdeadbeefu}) {
    Array got = z::jit([data](Tensor k) { return z::random::fold_in(k, data); })(z::random::key_array(key));
    CHECK(got.bitwise_equal(z::random::key_array(z::random::fold_in(key, data))));
  }
  CHECK_ERROR(z::jit([](Tensor k) { return z::random::bits(k, {3}); })(Array::ones({3}, DType::i32)), "i32[3]",
              "key");
}
