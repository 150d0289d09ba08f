// A result returned as std::array: the message names what a jitted function may return.
// RUN: not %cxx-syntax %s 2>&1 | FileCheck %s
// CHECK: error: static assertion failed{{.*}}z::jit: the function must return a Tensor{{.*}}for a std::array, return a std::vector<Tensor> or a std::tuple
// CHECK-NOT: error:
#include <zephyr/zephyr.h>

#include <array>

namespace z = zephyr;

int main() {
  z::jit([](z::Tensor x) { return std::array<z::Tensor, 2>{x, x}; })(z::Array::zeros({2}));
}
