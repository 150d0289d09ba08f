// threefry-2x32 and the samplers built on it, following jax._src.prng and jax._src.random.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "zephyr/random.h"

namespace zephyr::random {
namespace {

constexpr uint32_t rotl(uint32_t v, int r) { return (v << r) | (v >> (32 - r)); }

// Hashes every (x0[i], x1[i]) pair; the shape of JAX's vectorized threefry_2x32.
void hash_pairs(Key key, std::vector<uint32_t>& x0, std::vector<uint32_t>& x1) {
  for (size_t i = 0; i < x0.size(); ++i) {
    auto out = threefry2x32(key, {x0[i], x1[i]});
    x0[i] = out[0];
    x1[i] = out[1];
  }
}

Array scaled(const std::vector<double>& values, Shape shape, DType dtype) {
  Array out(std::move(shape), dtype);
  if (dtype == DType::f32) std::copy(values.begin(), values.end(), out.data<float>());  // rounds each
  else std::copy(values.begin(), values.end(), out.data<double>());
  return out;
}

// Giles' single-precision approximation, then Newton steps on erf(x) = y: one leaves an error
// far below a float's rounding (f32 draws), two reach double precision.
double erfinv_newton(double y, int steps) {
  if (y <= -1.0) return -std::numeric_limits<double>::infinity();
  if (y >= 1.0) return std::numeric_limits<double>::infinity();
  double w = -std::log((1.0 - y) * (1.0 + y)), x;
  if (w < 5.0) {
    w -= 2.5;
    x = 2.81022636e-08;
    for (double c : {3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503,
                     -0.00417768164, 0.246640727, 1.50140941})
      x = c + x * w;
  } else {
    w = std::sqrt(w) - 3.0;
    x = -0.000200214257;
    for (double c : {0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
                     0.00943887047, 1.00167406, 2.83297682})
      x = c + x * w;
  }
  x *= y;
  for (int i = 0; i < steps; ++i) x -= (std::erf(x) - y) / (2.0 / std::sqrt(M_PI) * std::exp(-x * x));
  return x;
}

// Uniform draws in [lo, hi) as doubles (f32: 23 random mantissa bits, so each is a float).
std::vector<double> uniform_values(Key key, int64_t n, DType dtype, double lo, double hi) {
  std::vector<double> values(n);
  if (dtype == DType::f32) {
    // 23 random mantissa bits under the exponent of 1.0 give a float in [1, 2).
    std::vector<uint32_t> words = bits(key, n);
    const float flo = static_cast<float>(lo), span = static_cast<float>(hi) - static_cast<float>(lo);
    for (int64_t i = 0; i < n; ++i) {
      uint32_t u = (words[i] >> 9) | 0x3F800000u;
      float f;
      std::memcpy(&f, &u, 4);
      values[i] = std::max(flo, (f - 1.0f) * span + flo);
    }
  } else {
    std::vector<uint32_t> words = bits(key, 2 * n);
    for (int64_t i = 0; i < n; ++i) {
      uint64_t u = (static_cast<uint64_t>(words[i]) << 32 | words[n + i]) >> 12 | 0x3FF0000000000000ull;
      double f;
      std::memcpy(&f, &u, 8);
      values[i] = std::max(lo, (f - 1.0) * (hi - lo) + lo);
    }
  }
  return values;
}

void require_float(DType dtype, const char* what) {
  if (!is_float(dtype)) throw Error(std::string("[random.") + what + "] needs a float dtype, got " + name(dtype));
}

}  // namespace

Key key(uint64_t seed) { return {static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(seed)}; }

std::array<uint32_t, 2> threefry2x32(Key key, std::array<uint32_t, 2> count) {
  static constexpr int kRotations[2][4] = {{13, 15, 26, 6}, {17, 29, 16, 24}};
  const uint32_t ks[3] = {key.hi, key.lo, key.hi ^ key.lo ^ 0x1BD11BDAu};
  uint32_t x0 = count[0] + ks[0], x1 = count[1] + ks[1];
  for (uint32_t block = 0; block < 5; ++block) {
    for (int r : kRotations[block % 2]) {
      x0 += x1;
      x1 = rotl(x1, r);
      x1 ^= x0;
    }
    x0 += ks[(block + 1) % 3];
    x1 += ks[(block + 2) % 3] + block + 1;
  }
  return {x0, x1};
}

std::vector<uint32_t> bits(Key key, int64_t n) {
  // JAX hashes iota(n) split in halves (padded to even), then concatenates the two halves.
  int64_t half = (n + 1) / 2;
  std::vector<uint32_t> x0(half), x1(half);
  for (int64_t i = 0; i < half; ++i) {
    x0[i] = static_cast<uint32_t>(i);
    x1[i] = static_cast<uint32_t>(half + i < n ? half + i : 0);
  }
  hash_pairs(key, x0, x1);
  std::vector<uint32_t> out(x0);
  out.insert(out.end(), x1.begin(), x1.end());
  out.resize(n);
  return out;
}

std::vector<Key> split(Key key, int n) {
  std::vector<uint32_t> words = bits(key, 2 * static_cast<int64_t>(n));
  std::vector<Key> keys;
  for (int i = 0; i < n; ++i) keys.push_back({words[2 * i], words[2 * i + 1]});
  return keys;
}

Key fold_in(Key key, uint32_t data) {
  auto out = threefry2x32(key, {0u, data});
  return {out[0], out[1]};
}

Array uniform(Key key, Shape shape, DType dtype, double lo, double hi) {
  require_float(dtype, "uniform");
  return scaled(uniform_values(key, numel(shape), dtype, lo, hi), std::move(shape), dtype);
}

Array normal(Key key, Shape shape, DType dtype) {
  require_float(dtype, "normal");
  double lo = dtype == DType::f32 ? std::nextafter(-1.0f, 0.0f) : std::nextafter(-1.0, 0.0);
  std::vector<double> values = uniform_values(key, numel(shape), dtype, lo, 1.0);
  const int steps = dtype == DType::f32 ? 1 : 2;
  for (double& v : values) v = std::sqrt(2.0) * erfinv_newton(v, steps);
  return scaled(values, std::move(shape), dtype);
}

Array truncated_normal(Key key, double lower, double upper, Shape shape, DType dtype) {
  require_float(dtype, "truncated_normal");
  if (!(lower < upper)) throw Error("[random.truncated_normal] needs lower < upper");
  double a = std::erf(lower / std::sqrt(2.0)), b = std::erf(upper / std::sqrt(2.0));
  std::vector<double> values = uniform_values(key, numel(shape), dtype, a, b);
  const double inf = std::numeric_limits<double>::infinity();
  const double above = std::nextafter(lower, inf), below = std::nextafter(upper, -inf);
  const int steps = dtype == DType::f32 ? 1 : 2;
  for (double& v : values) v = std::clamp(std::sqrt(2.0) * erfinv_newton(v, steps), above, below);
  return scaled(values, std::move(shape), dtype);
}

double erfinv(double y) { return erfinv_newton(y, 2); }

}  // namespace zephyr::random
