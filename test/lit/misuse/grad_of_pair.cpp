// A loss that returns a pair: the first error says to use z::has_aux.
// RUN: not %cxx-syntax %s 2>&1 | FileCheck %s
// CHECK: error: static assertion failed{{.*}}the loss returns a pair or tuple; for {loss, aux} write z::value_and_grad(f, z::has_aux)
// CHECK-NOT: error:
#include <zephyr/zephyr.h>

#include <utility>

namespace z = zephyr;

z::Tensor model(z::Params p, z::Tensor x) { return z::nets::linear(p, x, 10); }
std::pair<z::Tensor, z::Tensor> loss(z::Params p, z::Tensor x) {
  z::Tensor y = model(p, x);
  return {z::mean(y * y), y};
}

int main() {
  z::Array x = z::Array::zeros({1, 4});
  z::ParamTree params = z::trace(model, z::random::key(0), x);
  z::value_and_grad(loss)(params, x);
}
