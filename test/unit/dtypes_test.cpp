// The storage dtypes (bf16, f16, i64, u8, i8 beside f32, f64, i32, bool): bit-exact round trips
// through Arrays and safetensors, casts between every pair (compiled and interpreted) against
// conversions written out by hand with numpy's rules, integer arithmetic that wraps, and bf16/f16
// arithmetic computed in f32. PyTorch's and numpy's own readings are in test/io.
#include <doctest/doctest.h>
#include <zephyr/zephyr.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include "reference.h"
#include "test_support.h"

namespace z = zephyr;
using z::DType;

namespace {

// Values each dtype is tested with: signs, fractions, zero, the ends of the integer ranges,
// and values that round differently in each float format.
std::vector<double> samples(DType d) {
  switch (d) {
    case DType::bool_: return {0, 1, 1, 0};
    case DType::u8: return {0, 1, 7, 127, 128, 200, 255};
    case DType::i8: return {0, 1, -1, 100, -100, 127, -128};
    case DType::i32: return {0, 1, -1, 70000, -70000, 2147483647, -2147483648.0};
    case DType::i64: return {0, 1, -1, 70000, -70000, 4294967296.0 * 3 + 5, -9007199254740992.0};
    default: return {0, 1, -1, 0.5, -2.75, 3.14159265358979, 1e-3, -65504, 1000.25, 1.00390625, 300.7, -129.5};
  }
}

z::Array filled(DType d, const std::vector<double>& values) {
  z::Array a({static_cast<int64_t>(values.size())}, d);
  for (size_t i = 0; i < values.size(); ++i) a.set(static_cast<int64_t>(i), values[i]);
  return a;
}

// Round to nearest, ties to even, of a float to bfloat16 (NaN stays NaN), written out on bits.
double bf16_of(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  if (std::isnan(f)) return f;
  u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  return std::bit_cast<float>(u);
}

double wrap(double whole, int bits, bool is_signed) {
  const uint64_t u = static_cast<uint64_t>(static_cast<int64_t>(whole));
  const uint64_t mask = bits == 64 ? ~0ull : (1ull << bits) - 1;
  const uint64_t low = u & mask;
  if (is_signed && bits < 64 && (low >> (bits - 1))) return static_cast<double>(static_cast<int64_t>(low) - (1ll << bits));
  return is_signed ? static_cast<double>(static_cast<int64_t>(low)) : static_cast<double>(low);
}

int bits_of(DType d) { return d == DType::i64 ? 64 : d == DType::i32 ? 32 : 8; }

// numpy's astype, for the values above: floats round (f64 -> bf16/f16 through f32, as PyTorch),
// floats to integers truncate toward zero and then wrap to the width, integers wrap.
double converted(double v, DType from, DType to) {
  switch (to) {
    case DType::bool_: return v != 0;
    case DType::f64: return v;
    case DType::f32: return static_cast<float>(v);
    case DType::bf16: return bf16_of(static_cast<float>(v));
    case DType::f16: return static_cast<double>(static_cast<_Float16>(static_cast<float>(v)));
    default: {
      const double whole = z::is_float(from) ? std::trunc(v) : v;
      return wrap(whole, bits_of(to), to != DType::u8);
    }
  }
}

bool same(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

}  // namespace

TEST_CASE("dtypes: every dtype round-trips through Arrays and safetensors bit for bit") {
  const auto dir = std::filesystem::temp_directory_path() / "zephyr_dtypes_test";
  std::filesystem::create_directories(dir);
  z::io::NamedArrays all;
  for (DType d : z::all_dtypes()) {
    z::Array a = filled(d, samples(d));
    for (size_t i = 0; i < samples(d).size(); ++i)
      CHECK_MESSAGE(same(a.at(static_cast<int64_t>(i)), converted(samples(d)[i], DType::f64, d)), z::name(d) << " " << i);
    all.push_back({z::name(d), a});
  }
  const std::string path = (dir / "all.safetensors").string();
  z::io::save_safetensors(path, all);
  const z::io::NamedArrays back = z::io::load_safetensors(path);
  REQUIRE(back.size() == all.size());
  for (size_t k = 0; k < all.size(); ++k) {
    INFO(all[k].first);
    CHECK(back[k].first == all[k].first);
    CHECK(back[k].second.dtype() == all[k].second.dtype());
    CHECK(std::memcmp(back[k].second.raw(), all[k].second.raw(), all[k].second.nbytes()) == 0);
  }
  CHECK(z::itemsize(DType::bf16) == 2);
  CHECK(z::itemsize(DType::f16) == 2);
  CHECK(z::itemsize(DType::i64) == 8);
  CHECK(z::itemsize(DType::u8) == 1);
  CHECK(z::itemsize(DType::i8) == 1);
}

TEST_CASE("dtypes: casts between every pair of dtypes agree with numpy's rules, compiled and interpreted") {
  for (DType from : z::all_dtypes()) {
    const std::vector<double> values = samples(from);
    const z::Array x = filled(from, values);
    for (DType to : z::all_dtypes()) {
      // A float out of an integer's range has no defined conversion (numpy says so too).
      auto defined = [&](double v) {
        if (!z::is_float(from) || z::is_float(to) || to == DType::bool_) return true;
        return std::abs(v) < 2147483648.0 && (to != DType::u8 || v > -1);
      };
      auto f = [to](z::Tensor t) { return z::cast(t, to); };
      const z::Array compiled = z::jit(f)(x), interpreted = z::interpret(f)(x);
      REQUIRE(compiled.dtype() == to);
      for (size_t i = 0; i < values.size(); ++i) {
        if (!defined(x.at(static_cast<int64_t>(i)))) continue;
        const double want = converted(x.at(static_cast<int64_t>(i)), from, to);
        const int64_t k = static_cast<int64_t>(i);
        CHECK_MESSAGE(same(compiled.at(k), want), z::name(from) << " " << x.at(k) << " -> " << z::name(to) << ": compiled "
                                                                << compiled.at(k) << ", want " << want);
        CHECK_MESSAGE(same(interpreted.at(k), want), z::name(from) << " " << x.at(k) << " -> " << z::name(to)
                                                                   << ": interpreted " << interpreted.at(k) << ", want " << want);
      }
    }
  }
}

TEST_CASE("dtypes: integer arithmetic wraps, divides toward zero and shifts at each width") {
  for (DType d : {DType::i64, DType::u8, DType::i8, DType::i32}) {
    INFO(z::name(d));
    const std::vector<double> xs = samples(d);
    std::vector<double> ys;
    for (size_t i = 0; i < xs.size(); ++i) ys.push_back(xs[(i + 3) % xs.size()] == 0 ? 3 : xs[(i + 3) % xs.size()]);
    const z::Array a = filled(d, xs), b = filled(d, ys);
    auto f = [](z::Tensor p, z::Tensor q) {
      return std::tuple{p + q, p - q, p * q, p / q, z::maximum(p, q), z::less(p, q), z::shift_left(p, 3),
                        z::shift_right_logical(p, 2), z::bit_xor(p, q), z::sum(p)};
    };
    const bool is_signed = d != DType::u8;
    const int bits = bits_of(d);
    for (bool compiled : {true, false}) {
      INFO("compiled " << compiled);
      auto [sum, diff, prod, quot, most, less, left, right, x_or, total] = compiled ? z::jit(f)(a, b) : z::interpret(f)(a, b);
      double want_total = 0;
      for (size_t i = 0; i < xs.size(); ++i) {
        const int64_t k = static_cast<int64_t>(i);
        const auto p = static_cast<int64_t>(xs[i]), q = static_cast<int64_t>(ys[i]);
        const auto up = static_cast<uint64_t>(p), uq = static_cast<uint64_t>(q);
        const uint64_t mask = bits == 64 ? ~0ull : (1ull << bits) - 1;
        if (d != DType::i64 || (std::abs(xs[i]) < 1e15 && std::abs(ys[i]) < 1e15)) {  // exact in the f64 interpreter
          CHECK(sum.at(k) == wrap(static_cast<double>(static_cast<int64_t>(up + uq)), bits, is_signed));
          CHECK(diff.at(k) == wrap(static_cast<double>(static_cast<int64_t>(up - uq)), bits, is_signed));
        }
        if (d != DType::i64 || (std::abs(xs[i]) < 3e7 && std::abs(ys[i]) < 3e7))
          CHECK(prod.at(k) == wrap(static_cast<double>(static_cast<int64_t>(up * uq)), bits, is_signed));
        const bool overflows = q == -1 && p == INT64_MIN;  // MIN / -1 wraps to MIN at every width
        CHECK(quot.at(k) == (overflows ? xs[i] : wrap(static_cast<double>(p / q), bits, is_signed)));
        CHECK(most.at(k) == static_cast<double>(std::max(p, q)));
        CHECK(less.at(k) == (p < q ? 1.0 : 0.0));
        if (d != DType::i64 || std::abs(xs[i]) < 1e14) {
          CHECK(left.at(k) == wrap(static_cast<double>(static_cast<int64_t>(up << 3)), bits, is_signed));
          CHECK(right.at(k) == wrap(static_cast<double>(static_cast<int64_t>((up & mask) >> 2)), bits, is_signed));
        }
        CHECK(x_or.at(k) == wrap(static_cast<double>(static_cast<int64_t>(up ^ uq)), bits, is_signed));
        want_total += xs[i];
      }
      if (d != DType::i64) CHECK(total.at(0) == wrap(want_total, bits, is_signed));
    }
    // Division by zero gives 0 (the instruction would trap and end the process).
    const z::Array zeros = z::Array::zeros({static_cast<int64_t>(xs.size())}, d);
    auto divide = [](z::Tensor p, z::Tensor q) { return p / q; };
    for (const z::Array& r : {z::jit(divide)(a, zeros), z::interpret(divide)(a, zeros)})
      for (int64_t k = 0; k < r.size(); ++k) CHECK(r.at(k) == 0);
  }
}

TEST_CASE("dtypes: bf16 and f16 are stored in 16 bits and computed in f32") {
  for (DType d : {DType::bf16, DType::f16}) {
    INFO(z::name(d));
    const z::Array a = filled(d, {1.0, 2.5, -3.25, 10.5, 0.1}), b = filled(d, {3.0, 0.5, 7.0, 1.5, 0.2});
    auto f = [](z::Tensor p, z::Tensor q) {
      return std::tuple{p * q + p, z::exp(p / 8.0), z::sum(p), z::matmul(z::reshape(p, {1, 5}), z::reshape(q, {5, 1}))};
    };
    auto round = [d](double v) { return converted(v, DType::f32, d); };
    for (bool compiled : {true, false}) {
      INFO("compiled " << compiled);
      auto [fused, e, total, dot] = compiled ? z::jit(f)(a, b) : z::interpret(f)(a, b);
      CHECK(fused.dtype() == d);
      CHECK(total.dtype() == d);
      float s = 0, inner = 0;  // a reduction or a product accumulates in f32 and rounds once
      for (int64_t i = 0; i < 5; ++i) {
        const float p = static_cast<float>(a.at(i)), q = static_cast<float>(b.at(i));
        // Each op computes in f32 and rounds its result to the dtype, as PyTorch's bf16 ops do.
        CHECK(fused.at(i) == round(round(p * q) + p));
        CHECK(e.at(i) == doctest::Approx(round(std::exp(p / 8.0f))).epsilon(d == DType::bf16 ? 8e-3 : 1e-3));
        s += p;
        inner += p * q;
      }
      CHECK(total.at(0) == round(s));
      CHECK(dot.at(0) == round(inner));
    }
    // The graph says so: the arithmetic is f32 between casts.
    const std::string graph = z::print_graph(z::make_function([](z::Tensor p, z::Tensor q) { return p * q; }, a, b));
    CHECK_MESSAGE(z::testing::contains(graph, "mul"), graph);
    CHECK_MESSAGE(z::testing::contains(graph, "f32"), graph);
  }
}

TEST_CASE("dtypes: Params::as reads f32 leaves in bf16, and the gradient reaches the f32 tree") {
  auto layer = [](z::Params p, z::Tensor x) { return z::nets::linear(p, x, 3); };
  auto mixed = [layer](z::Params p, z::Tensor x) {
    return z::sum(z::cast(layer(p.as(DType::bf16), z::cast(x, DType::bf16)), DType::f32));
  };
  auto plain = [layer](z::Params p, z::Tensor x) { return z::sum(layer(p, x)); };
  const z::Array x = z::testing::random_array({4, 5}, 3);
  // Traced through as(bf16), the leaves are still held in f32: the master weights.
  const z::ParamTree params = z::trace(mixed, z::random::key(1), x);
  for (const auto& [path, w] : params) CHECK_MESSAGE(w.dtype() == DType::f32, path);
  const std::string graph = z::print_graph(z::make_function(z::grad(mixed), params, x));
  CHECK_MESSAGE(z::testing::contains(graph, "bf16"), graph);
  const z::ParamTree g = z::grad(mixed)(params, x), want = z::grad(plain)(params, x);
  for (size_t k = 0; k < g.size(); ++k) {
    const z::Array &a = g.leaves()[k].second, &b = want.leaves()[k].second;
    REQUIRE(a.dtype() == DType::f32);
    for (int64_t i = 0; i < a.size(); ++i) CHECK(a.at(i) == doctest::Approx(b.at(i)).epsilon(2e-2));
  }
}
