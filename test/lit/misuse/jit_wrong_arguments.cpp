// Calling a jitted function with arguments it cannot take is one static_assert, not a page of
// std::invoke_result errors.
// RUN: not %cxx-syntax %s 2>&1 | FileCheck %s
// CHECK: error: static assertion failed{{.*}}z::jit: the function cannot take these arguments
// CHECK-NOT: error:
#include <zephyr/zephyr.h>

namespace z = zephyr;

z::Tensor model(z::Params p, z::Tensor x) { return z::nets::linear(p, x, 10); }

int main() {
  z::ParamTree params = z::trace(model, z::random::key(0), z::Array::zeros({1, 4}));
  auto f = z::jit(model);
  f(z::Array::zeros({1, 4}), params);  // swapped
}
