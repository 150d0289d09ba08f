// z::custom_vjp: the user's backward function is the gradient (against hand-written loops, and
// against the zero gradient the function's own graph has), a straight-through estimator trains,
// it batches under vmap in both orders with grad, and its mistakes are errors naming the line.
#include <doctest/doctest.h>
#include <zephyr/custom_vjp.h>
#include <zephyr/vmap.h>
#include <zephyr/zephyr.h>

#include <cmath>

#include "reference.h"
#include "test_support.h"

namespace z = zephyr;
using z::testing::contains;
using z::testing::random_array;

namespace {

// Truncation to a grid of 1/4: its derivative is zero wherever it exists.
z::Tensor quantize(const z::Tensor& x) { return z::cast(z::cast(x * 4.0, z::DType::i32), z::DType::f32) / 4.0; }
float quantize(float x) { return std::trunc(x * 4.0f) / 4.0f; }

// The straight-through estimator: quantizes forward, passes the gradient where |x| <= 1.
const auto ste = z::custom_vjp([](z::Tensor x) { return quantize(x); },
                               [](z::Tensor x) { return std::pair{quantize(x), x}; },
                               [](const z::Tensor& x, z::Tensor g) { return z::where(z::abs(x) <= 1.0, g, 0.0 * g); });

z::Tensor weighted(z::Tensor x, z::Tensor w) { return z::sum(ste(x) * w); }

}  // namespace

TEST_CASE("custom_vjp: the backward function is the gradient, and the function's own graph gets none") {
  const z::Array x = random_array({5, 4}, 1, z::DType::f32, -2, 2), w = random_array({5, 4}, 2);
  for (bool compiled : {true, false}) {
    INFO("compiled " << compiled);
    auto [value, g] = compiled ? z::value_and_grad(weighted)(x, w) : z::interpret(z::value_and_grad(weighted))(x, w);
    double want = 0;
    for (int64_t i = 0; i < x.size(); ++i) {
      want += quantize(x.data<float>()[i]) * w.at(i);
      CHECK(g.at(i) == (std::abs(x.at(i)) <= 1 ? w.at(i) : 0.0));
    }
    CHECK(value.at(0) == doctest::Approx(want).epsilon(1e-6));
  }
  // The control: without the custom rule, the quantizer's gradient is zero everywhere.
  auto plain = [](z::Tensor x, z::Tensor w) { return z::sum(quantize(x) * w); };
  const z::Array zero = z::grad(plain)(x, w);
  for (int64_t i = 0; i < zero.size(); ++i) CHECK(zero.at(i) == 0.0);
}

TEST_CASE("custom_vjp: a straight-through estimator trains quantized weights") {
  // y = x · w_true with w_true on the grid; w starts at 0, where the quantizer is flat.
  const z::Array x = random_array({32, 4}, 3);
  const z::Array w_true = z::Array::from<float>({4, 1}, {0.5f, -0.25f, 0.75f, -0.5f});
  auto targets = z::jit([](z::Tensor x, z::Tensor w) { return z::matmul(x, w); })(x, w_true);
  auto loss = [](z::Tensor w, z::Tensor x, z::Tensor y) { return z::mean(z::square(z::matmul(x, ste(w)) - y)); };
  auto step = z::jit(z::value_and_grad(loss));
  z::Array w = z::Array::zeros({4, 1}, z::DType::f32);
  const double first = step(w, x, targets).first.at(0);
  double last = first;
  for (int i = 0; i < 300; ++i) {
    auto [l, g] = step(w, x, targets);
    last = l.at(0);
    for (int64_t k = 0; k < w.size(); ++k) w.data<float>()[k] -= 0.1f * g.data<float>()[k];
  }
  MESSAGE("loss " << first << " -> " << last);
  CHECK(last < 0.01 * first);
  for (int64_t k = 0; k < 4; ++k) CHECK(quantize(w.data<float>()[k]) == w_true.data<float>()[k]);
}

TEST_CASE("custom_vjp: batches under vmap, per-example gradients through it equal a loop") {
  auto f = [](z::Tensor w, z::Tensor x) { return z::sum(ste(w * x)); };
  const z::Array w = random_array({4}, 4, z::DType::f32, -1, 1), xs = random_array({3, 4}, 5, z::DType::f32, -2, 2);
  // vmap of grad: one gradient per example.
  const z::Array per = z::jit(z::vmap(z::grad(f), {z::unbatched, 0}))(w, xs);
  REQUIRE(per.shape() == z::Shape{3, 4});
  // grad of vmap: the batched node's rule, the per-example one batched, summed over the examples.
  auto total = [f](z::Tensor w, z::Tensor xs) { return z::sum(z::vmap(f, {z::unbatched, 0})(w, xs)); };
  const z::Array summed = z::jit(z::grad(total))(w, xs);
  for (int64_t k = 0; k < 4; ++k) {
    double sum = 0;
    for (int64_t b = 0; b < 3; ++b) {
      const float v = xs.at(b * 4 + k), wx = w.data<float>()[k] * v;
      const double want = std::abs(wx) <= 1 ? v : 0.0;
      CHECK(per.at(b * 4 + k) == doctest::Approx(want));
      sum += want;
    }
    CHECK(summed.at(k) == doctest::Approx(sum).epsilon(1e-6));
  }
}

TEST_CASE("custom_vjp: mistakes are errors naming custom_vjp and the user's line") {
  auto message = [](auto call) { return z::testing::error_of(call); };
  const z::Array x = random_array({3}, 6);
  const auto two = z::custom_vjp([](z::Tensor a) { return a; }, [](z::Tensor a) { return std::pair{a, a}; },
                                 [](const z::Tensor&, z::Tensor g) { return std::tuple{g, g}; });
  const std::string count = message([&] { z::grad([&](z::Tensor a) { return z::sum(two(a)); })(x); });
  CHECK_MESSAGE(contains(count, "custom_vjp_test.cpp"), count);
  CHECK_MESSAGE(contains(count, "[custom_vjp] the backward function returned 2 cotangents for 1 inputs"), count);
  const auto wrong = z::custom_vjp([](z::Tensor a) { return a; }, [](z::Tensor a) { return std::pair{a, a}; },
                                   [](const z::Tensor&, z::Tensor g) { return z::sum(g); });
  const std::string shape = message([&] { z::grad([&](z::Tensor a) { return z::sum(wrong(a)); })(x); });
  CHECK_MESSAGE(contains(shape, "cotangent 0 is f32[], but input 0 is f32[3]"), shape);
  const std::string forward = message([&] { z::jvp([](z::Tensor a) { return ste(a); }, std::tuple{x}, std::tuple{x}); });
  CHECK_MESSAGE(contains(forward, "[custom_vjp] has no forward-mode rule"), forward);
}
