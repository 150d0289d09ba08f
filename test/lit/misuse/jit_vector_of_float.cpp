// A std::vector<float> where the model takes a Tensor: the message says how data becomes an Array.
// RUN: not %cxx-syntax %s 2>&1 | FileCheck %s
// CHECK: error: static assertion failed{{.*}}z::jit: the function cannot take these arguments{{.*}}std::vector<float> goes through z::Array::from
// CHECK-NOT: error:
#include <zephyr/zephyr.h>

#include <vector>

namespace z = zephyr;

int main() {
  std::vector<float> data{1, 2, 3};
  z::jit([](z::Tensor x) { return z::sum(x); })(data);
}
