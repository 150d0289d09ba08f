// A shared library that compiles and runs a zephyr function: what a Python extension or a
// plugin host does. Its one entry point hides zephyr from its callers.
#include <zephyr/zephyr.h>

#include <span>

namespace z = zephyr;

extern "C" __attribute__((visibility("default"))) double sum_of_squares(const float* values, long count) {
  static auto f = z::jit([](z::Tensor x) { return z::sum(x * x); });
  return f(z::Array::from<float>({count}, std::span<const float>(values, static_cast<size_t>(count)))).at(0);
}
