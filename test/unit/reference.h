// What the reference-loop tests share: row-major index arithmetic written out independently of
// zephyr, random inputs, and the comparison of a result with a reference.
#pragma once

#include <doctest/doctest.h>
#include <zephyr/zephyr.h>

#include <cmath>
#include <string>
#include <vector>

namespace zephyr::testing {

inline int64_t count(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

inline Shape unravel(int64_t flat, const Shape& shape) {
  Shape index(shape.size());
  for (size_t i = shape.size(); i-- > 0;) {
    index[i] = flat % shape[i];
    flat /= shape[i];
  }
  return index;
}

inline int64_t ravel(const Shape& index, const Shape& shape) {
  int64_t flat = 0;
  for (size_t i = 0; i < shape.size(); ++i) flat = flat * shape[i] + index[i];
  return flat;
}

inline Array random_array(const Shape& shape, uint64_t seed, DType dtype = DType::f32, double lo = -1, double hi = 1) {
  return random::uniform(random::key(seed), shape, dtype, lo, hi);
}

/// A reference result: its shape and values (computed in double).
struct Ref {
  Shape shape;
  std::vector<double> values;
};

/// |got - want| <= tol * max(1, |want|) everywhere (infinities must match), with equal shapes.
inline void check_close(const Array& got, const Ref& want, double tol, const std::string& what) {
  INFO(what);
  REQUIRE(got.shape() == want.shape);
  REQUIRE(got.size() == static_cast<int64_t>(want.values.size()));
  int bad = 0;
  for (int64_t i = 0; i < got.size(); ++i) {
    double g = got.at(i), w = want.values[i];
    bool ok = (std::isinf(w) && g == w) || std::abs(g - w) <= tol * std::max(1.0, std::abs(w));
    if (!ok && bad++ < 5) CHECK_MESSAGE(false, what << ": element " << i << " got " << g << ", want " << w);
  }
  CHECK_MESSAGE(bad == 0, what << ": " << bad << " of " << got.size() << " elements differ");
}

}  // namespace zephyr::testing
