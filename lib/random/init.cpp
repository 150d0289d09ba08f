#include "zephyr/init.h"

#include <cmath>

namespace zephyr::init {
namespace {

struct Fans {
  double in, out;
};

Fans fans(const Shape& shape) {
  if (shape.empty()) return {1, 1};
  if (shape.size() == 1) return {double(shape[0]), double(shape[0])};
  double receptive = 1;
  for (size_t i = 0; i + 2 < shape.size(); ++i) receptive *= double(shape[i]);
  return {double(shape[shape.size() - 2]) * receptive, double(shape.back()) * receptive};
}

// Std of a unit normal truncated to [-2, 2]; dividing by it restores the requested std.
constexpr double kTruncatedStd = 0.87962566103423978;

// In place, each value through double as before (the float rounding happens once, at the store).
Array affine(Array a, double scale, double shift) {
  auto apply = [&]<class T>(T* p) {
    for (int64_t i = 0, n = a.size(); i < n; ++i) p[i] = static_cast<T>(p[i] * scale + shift);
  };
  if (a.dtype() == DType::f32) apply(a.data<float>());
  else apply(a.data<double>());
  return a;
}

Initializer scaled_normal(std::string name, double gain, bool use_fan_avg) {
  return {std::move(name), [gain, use_fan_avg](random::Key k, const Shape& s, DType d) {
            Fans f = fans(s);
            double fan = use_fan_avg ? (f.in + f.out) / 2 : f.in;
            return affine(random::truncated_normal(k, -2, 2, s, d), std::sqrt(gain / fan) / kTruncatedStd, 0);
          }};
}

Initializer scaled_uniform(std::string name, double gain, bool use_fan_avg) {
  return {std::move(name), [gain, use_fan_avg](random::Key k, const Shape& s, DType d) {
            Fans f = fans(s);
            double fan = use_fan_avg ? (f.in + f.out) / 2 : f.in;
            double limit = std::sqrt(3.0 * gain / fan);
            return random::uniform(k, s, d, -limit, limit);
          }};
}

}  // namespace

Initializer constant(double value) {
  return {"constant", [value](random::Key, const Shape& s, DType d) { return Array::full(s, value, d); }};
}
Initializer normal(double stddev, double mean) {
  return {"normal", [=](random::Key k, const Shape& s, DType d) { return affine(random::normal(k, s, d), stddev, mean); }};
}
Initializer uniform(double lo, double hi) {
  return {"uniform", [=](random::Key k, const Shape& s, DType d) { return random::uniform(k, s, d, lo, hi); }};
}
Initializer truncated_normal(double stddev) {
  return {"truncated_normal", [=](random::Key k, const Shape& s, DType d) {
            return affine(random::truncated_normal(k, -2, 2, s, d), stddev / kTruncatedStd, 0);
          }};
}

const Initializer zeros = constant(0.0);
const Initializer ones = constant(1.0);
const Initializer base{"base", [](random::Key k, const Shape& s, DType d) {
                         if (s.size() < 2) return Array::zeros(s, d);
                         return affine(random::truncated_normal(k, -2, 2, s, d),
                                       1.0 / std::sqrt(fans(s).in) / kTruncatedStd, 0);
                       }};
const Initializer glorot_uniform = scaled_uniform("glorot_uniform", 1.0, true);
const Initializer glorot_normal = scaled_normal("glorot_normal", 1.0, true);
const Initializer he_uniform = scaled_uniform("he_uniform", 2.0, false);
const Initializer he_normal = scaled_normal("he_normal", 2.0, false);
const Initializer xavier_uniform = glorot_uniform;
const Initializer xavier_normal = glorot_normal;
const Initializer kaiming_uniform = he_uniform;
const Initializer kaiming_normal = he_normal;

}  // namespace zephyr::init
