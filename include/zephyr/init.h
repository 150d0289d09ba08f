// Initializers: how trace fills a parameter template. Each is a named function of (key, shape, dtype).
#pragma once

#include <functional>
#include <string>

#include "zephyr/array.h"
#include "zephyr/random.h"

namespace zephyr {

/// A named way to fill a parameter: fn(key, shape, dtype) gives its initial array.
struct Initializer {
  std::string name;  ///< what errors call it ("base", "zeros", ...)
  std::function<Array(random::Key, const Shape&, DType)> fn;  ///< the array for a key, shape and dtype
  /// fn(key, shape, dtype).
  Array operator()(random::Key key, const Shape& shape, DType dtype) const { return fn(key, shape, dtype); }
};

namespace init {
// Fan-in and fan-out follow JAX's variance_scaling: weights are (..., in, out), and the leading
// axes (a conv's window) multiply both.

/// zephyr's default: weights (rank >= 2) are truncated normal (±2σ) with std 1/sqrt(fan_in);
/// vectors (biases, scales) are zeros.
extern const Initializer base;
extern const Initializer zeros;
extern const Initializer ones;
extern const Initializer glorot_uniform;
extern const Initializer glorot_normal;
extern const Initializer he_uniform;
extern const Initializer he_normal;
/// Aliases: xavier is glorot, kaiming is he.
extern const Initializer xavier_uniform;
extern const Initializer xavier_normal;
extern const Initializer kaiming_uniform;
extern const Initializer kaiming_normal;

Initializer constant(double value);
Initializer normal(double stddev = 1.0, double mean = 0.0);
Initializer uniform(double lo = 0.0, double hi = 1.0);
/// Normal truncated at ±2 stddev, rescaled so that its standard deviation is `stddev`.
Initializer truncated_normal(double stddev = 1.0);

}  // namespace init
}  // namespace zephyr
