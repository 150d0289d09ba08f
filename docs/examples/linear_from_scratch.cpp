// The seed README's "Building Layers From Scratch", in C++: a linear layer that declares its
// own parameters inline, traced into a tree and run through the JIT.
#include <fmt/core.h>
#include <zephyr/zephyr.h>

#include <cmath>

namespace z = zephyr;

z::Tensor linear(z::Params p, z::Tensor x, int out, bool with_bias = true) {
  p["weights"] == z::array({x.shape(-1), out}, z::init::base);  // declares a named parameter
  z::Tensor y = z::matmul(x, p["weights"]);
  if (with_bias) {
    p["bias"] == z::array({out}, z::init::zeros);
    y = y + p["bias"];
  }
  return y;
}

int main() {
  z::Array x = z::Array::ones({64, 8});
  z::ParamTree params = z::trace(linear, z::random::key(0), x, 128, true);
  fmt::print("{}\n", params);

  z::Array y = z::jit(linear)(params, x, 128, true);  // shape: [64, 128]
  fmt::print("output {}\n", z::describe(y.dtype(), y.shape()));

  // x @ W + b by hand, from the traced arrays.
  const z::Array& w = params["weights"];
  double worst = 0;
  for (int64_t i = 0; i < 64; ++i)
    for (int64_t j = 0; j < 128; ++j) {
      double expected = 0;
      for (int64_t k = 0; k < 8; ++k) expected += x.at(i * 8 + k) * w.at(k * 128 + j);
      worst = std::max(worst, std::abs(expected - y.at(i * 128 + j)));
    }
  fmt::print("max |jit - hand-written loop| = {:.3g}\n", worst);
  return worst < 1e-5 ? 0 : 1;
}
