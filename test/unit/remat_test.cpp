// z::checkpoint (rematerialization): gradients through it equal the closed form and the plain
// gradients, a deep MLP's training step holds far fewer intermediate bytes, and forward mode,
// second order, vmap, nesting and the interpreter all pass through it.
#include <doctest/doctest.h>
#include <zephyr/zephyr.h>

#include <cmath>

#include "reference.h"
#include "test_support.h"

namespace z = zephyr;
using z::testing::random_array;

namespace {

void check_trees_close(const z::ParamTree& got, const z::ParamTree& want, double tol) {
  REQUIRE(got.size() == want.size());
  for (size_t leaf = 0; leaf < got.size(); ++leaf) {
    const auto& [path, g] = got.leaves()[leaf];
    const z::Array& w = want.leaves()[leaf].second;
    INFO(path);
    REQUIRE(path == want.leaves()[leaf].first);
    REQUIRE(g.shape() == w.shape());
    int bad = 0;
    for (int64_t i = 0; i < g.size(); ++i)
      if (std::abs(g.at(i) - w.at(i)) > tol * std::max(1.0, std::abs(w.at(i))) && bad++ < 3)
        CHECK_MESSAGE(false, "element " << i << ": " << g.at(i) << " vs " << w.at(i));
    CHECK(bad == 0);
  }
}

// Four tanh layers: 256 wide, so each intermediate of a batch of 128 is 128 KB.
z::Tensor block(z::Params p, z::Tensor h) {
  for (int i = 0; i < 4; ++i) h = z::tanh(z::nets::linear(p[i], h, 256));
  return h;
}

template <bool Remat>
z::Tensor deep_loss(z::Params p, z::Tensor x, z::Tensor y) {
  static const auto remat_block = z::checkpoint(block);
  z::Tensor h = x;
  for (int b = 0; b < 8; ++b) h = Remat ? remat_block(p["blocks"][b], h) : block(p["blocks"][b], h);
  return z::mean(z::square(z::nets::linear(p["head"], h, 8) - y));
}

}  // namespace

TEST_CASE("checkpoint: a deep MLP's gradients are unchanged and its step holds far fewer intermediate bytes") {
  const z::Array x = random_array({128, 256}, 1), y = random_array({128, 8}, 2);
  const z::ParamTree params = z::trace(deep_loss<true>, z::random::key(3), x, y);
  CHECK(params.size() == z::trace(deep_loss<false>, z::random::key(3), x, y).size());
  auto plain = z::jit(z::value_and_grad(deep_loss<false>));
  auto remat = z::jit(z::value_and_grad(deep_loss<true>));
  const auto [plain_loss, plain_grads] = plain(params, x, y);
  const auto [remat_loss, remat_grads] = remat(params, x, y);
  CHECK(remat_loss.at(0) == doctest::Approx(plain_loss.at(0)).epsilon(1e-6));
  check_trees_close(remat_grads, plain_grads, 1e-5);

  // The plain backward pass reads every layer's output; the rematerialized one keeps the eight
  // block inputs and recomputes one block at a time, so its peak is a few blocks' worth.
  const z::compiler::CompileStats p = plain.last_compile(), r = remat.last_compile();
  MESSAGE("intermediate bytes: plain " << p.intermediate_bytes << ", checkpointed " << r.intermediate_bytes
                                       << "; kernel calls " << p.kernel_calls << " and " << r.kernel_calls);
  REQUIRE(p.intermediate_bytes > 0);
  CHECK(r.intermediate_bytes * 2 < p.intermediate_bytes);
  CHECK(r.kernel_calls > p.kernel_calls);  // the recomputation is there
}

TEST_CASE("checkpoint: gradients through inputs and a closed-over Tensor equal the closed form, compiled and interpreted") {
  // f = sum(sin(x·w)·c), c closed over: ∂x = cos(xw)·w·c, ∂w = cos(xw)·x·c, ∂c = sin(xw).
  auto loss = [](z::Tensor x, z::Tensor w, z::Tensor c) {
    auto f = z::checkpoint([&c](z::Tensor a, z::Tensor b) { return z::sin(a * b) * c; });
    return z::sum(f(x, w));
  };
  const z::Array x = random_array({3, 5}, 4, z::DType::f64), w = random_array({3, 5}, 5, z::DType::f64),
                 c = random_array({3, 5}, 6, z::DType::f64);
  for (bool compiled : {true, false}) {
    INFO("compiled " << compiled);
    auto grads = [&](auto g) { return compiled ? g(x, w, c) : z::interpret(g)(x, w, c); };
    const z::Array dx = grads(z::grad<0>(loss)), dw = grads(z::grad<1>(loss)), dc = grads(z::grad<2>(loss));
    for (int64_t i = 0; i < x.size(); ++i) {
      const double a = x.at(i), b = w.at(i), k = c.at(i);
      CHECK(dx.at(i) == doctest::Approx(std::cos(a * b) * b * k).epsilon(1e-12));
      CHECK(dw.at(i) == doctest::Approx(std::cos(a * b) * a * k).epsilon(1e-12));
      CHECK(dc.at(i) == doctest::Approx(std::sin(a * b)).epsilon(1e-12));
    }
  }
}

TEST_CASE("checkpoint: forward mode, grad of grad and hvp pass through it (x³·sin x in closed form)") {
  const auto cube_sin = z::checkpoint([](z::Tensor x) { return z::pow(x, 3.0) * z::sin(x); });
  auto f = [cube_sin](z::Tensor x) { return z::sum(cube_sin(x)); };
  auto first = [](double t) { return 3 * t * t * std::sin(t) + t * t * t * std::cos(t); };
  auto second = [](double t) { return 6 * t * std::sin(t) + 6 * t * t * std::cos(t) - t * t * t * std::sin(t); };
  const z::Array x = z::Array::from<double>({4}, {-2.0, -0.5, 0.7, 3.0});
  const z::Array v = z::Array::from<double>({4}, {1.0, -2.0, 0.5, 3.0});
  auto [y, dy] = z::jvp(cube_sin, std::tuple{x}, std::tuple{v});
  const z::Array d2 = z::grad([f](z::Tensor t) { return z::sum(z::grad(f)(t)); })(x);
  const z::Array hv = z::hvp(f)(x, v);
  for (int i = 0; i < 4; ++i) {
    const double t = x.at(i);
    INFO("x = " << t);
    CHECK(y.at(i) == doctest::Approx(t * t * t * std::sin(t)).epsilon(1e-12));
    CHECK(dy.at(i) == doctest::Approx(first(t) * v.at(i)).epsilon(1e-12));
    CHECK(d2.at(i) == doctest::Approx(second(t)).epsilon(1e-12));
    CHECK(hv.at(i) == doctest::Approx(second(t) * v.at(i)).epsilon(1e-12));
  }
}

TEST_CASE("checkpoint: per-example gradients through it under vmap, and nested checkpoints, equal the plain ones") {
  auto net = [](z::Params p, z::Tensor x) { return z::nets::mlp(p, x, {6, 6, 3}); };
  auto inner = z::checkpoint([net](z::Params p, z::Tensor x) { return z::tanh(net(p["net"], x)); });
  auto outer = z::checkpoint([inner](z::Params p, z::Tensor x) { return inner(p, x) * 2.0 + z::slice(x, -1, 0, 3); });
  auto remat_loss = [outer](z::Params p, z::Tensor x) { return z::sum(z::square(outer(p, x))); };
  auto plain_loss = [net](z::Params p, z::Tensor x) {
    return z::sum(z::square(z::tanh(net(p["net"], x)) * 2.0 + z::slice(x, -1, 0, 3)));
  };
  const z::Array xs = random_array({5, 4}, 7);
  const z::ParamTree params = z::trace(remat_loss, z::random::key(8), z::Array::zeros({4}, z::DType::f32));
  const z::ParamTree plain = z::vmap(z::grad(plain_loss), {z::unbatched, 0})(params, xs);
  const z::ParamTree remat = z::vmap(z::grad(remat_loss), {z::unbatched, 0})(params, xs);
  check_trees_close(remat, plain, 1e-5);
  // And the batch gradient, interpreted (the reference) against compiled.
  auto batch_loss = [remat_loss](z::Params p, z::Tensor x) { return remat_loss(p, x); };
  check_trees_close(z::interpret(z::grad(batch_loss))(params, xs), z::grad(plain_loss)(params, xs), 1e-5);
}

TEST_CASE("checkpoint: a function of none of its inputs is its plain value; an empty result is an error naming the line") {
  auto constant_of = [](z::Tensor x, z::Tensor w) {
    return z::sum(z::checkpoint([&w](z::Tensor) { return z::exp(w); })(x));
  };
  const z::Array x = random_array({3}, 9), w = random_array({3}, 10);
  const z::Array dw = z::grad<1>(constant_of)(x, w), dx = z::grad<0>(constant_of)(x, w);
  for (int64_t i = 0; i < 3; ++i) {
    CHECK(dw.at(i) == doctest::Approx(std::exp(w.at(i))).epsilon(1e-6));
    CHECK(dx.at(i) == 0.0);
  }
  auto empty = [](z::Tensor x) { return z::sum(z::checkpoint([](z::Tensor) { return z::Tensor(); })(x)); };
  CHECK_ERROR(z::grad(empty)(x), "[checkpoint]", "the function returned an empty Tensor", "remat_test.cpp");
}
