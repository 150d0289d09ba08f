// Every VJP rule against central finite differences in f64, on random inputs with broadcasting;
// a whole MLP's gradient against a hand-written backward pass.
#include <doctest/doctest.h>
#include <zephyr/zephyr.h>

#include <cmath>
#include <functional>

namespace z = zephyr;

namespace {

using Fn = std::function<z::Tensor(const std::vector<z::Tensor>&)>;

z::Array random_f64(z::Shape shape, uint64_t seed, double lo = -1, double hi = 1) {
  return z::random::uniform(z::random::key(seed), std::move(shape), z::DType::f64, lo, hi);
}

// loss(xs) = sum(f(xs) * weights): a fixed random cotangent, so every output element matters.
struct Check {
  Fn f;
  std::vector<z::Array> inputs;

  z::Tensor loss(const std::vector<z::Tensor>& xs, const z::Array& weights) const {
    z::Tensor y = f(xs);
    return z::sum(z::cast(y, z::DType::f64) * z::constant(weights));
  }

  void run(double tol = 1e-6) const {
    std::vector<z::Tensor> probe;
    for (const z::Array& a : inputs) probe.push_back(z::detail::symbolic_input(a, "x"));
    z::Tensor out = f(probe);
    z::Array weights = random_f64(out.shape(), 99);

    // Analytic gradients of every input, in one compiled function.
    auto gradients = z::jit([&](const std::vector<z::Tensor>& xs) -> std::vector<z::Tensor> {
      return z::vjp(loss(xs, weights), z::scalar(1.0, z::DType::f64), xs);
    });
    auto value = z::jit([&](const std::vector<z::Tensor>& xs) { return loss(xs, weights); });
    std::vector<z::Array> grads = gradients(inputs);

    const double h = 1e-6;
    for (size_t k = 0; k < inputs.size(); ++k) {
      if (inputs[k].dtype() != z::DType::f64) continue;
      for (int64_t i = 0; i < inputs[k].size(); ++i) {
        std::vector<z::Array> plus = copies(), minus = copies();
        plus[k].data<double>()[i] += h;
        minus[k].data<double>()[i] -= h;
        double numeric = (value(plus).at(0) - value(minus).at(0)) / (2 * h);
        INFO("input ", k, " element ", i);
        CHECK(grads[k].at(i) == doctest::Approx(numeric).epsilon(tol).scale(1.0));
      }
    }
  }

 private:
  std::vector<z::Array> copies() const {
    std::vector<z::Array> out;
    for (const z::Array& a : inputs) out.push_back(a.clone());
    return out;
  }
};

z::Tensor arg(const std::vector<z::Tensor>& xs, size_t i) { return xs[i]; }

}  // namespace

TEST_CASE("unary VJPs match finite differences") {
  auto positive = random_f64({2, 3}, 1, 0.5, 2.0);
  auto mixed = random_f64({2, 3}, 2);
  Check{[](auto& x) { return z::neg(x[0]); }, {mixed}}.run();
  Check{[](auto& x) { return z::abs(x[0]); }, {mixed}}.run();
  Check{[](auto& x) { return z::exp(x[0]); }, {mixed}}.run();
  Check{[](auto& x) { return z::log(x[0]); }, {positive}}.run();
  Check{[](auto& x) { return z::tanh(x[0]); }, {mixed}}.run();
  Check{[](auto& x) { return z::sqrt(x[0]); }, {positive}}.run();
  Check{[](auto& x) { return z::rsqrt(x[0]); }, {positive}}.run();
  Check{[](auto& x) { return z::sin(x[0]); }, {mixed}}.run();
  Check{[](auto& x) { return z::cos(x[0]); }, {mixed}}.run();
  Check{[](auto& x) { return z::sigmoid(x[0]); }, {mixed}}.run();
  Check{[](auto& x) { return z::gelu(x[0]); }, {mixed}}.run();
  Check{[](auto& x) { return z::relu(x[0]); }, {mixed}}.run();
}

TEST_CASE("gelu's written-out gradient matches finite differences over its range, and is differentiable again") {
  // The rule (lib/ops/elementwise.cpp) replaces the composite's autodiff: checked where the tanh
  // saturates too, and its own gradient (second order goes through the rule's graph).
  auto wide = random_f64({4, 16}, 11, -6.0, 6.0);
  Check{[](auto& x) { return z::gelu(x[0]); }, {wide}}.run();
  Check{[](auto& x) { return z::vjp(z::sum(z::gelu(x[0])), z::scalar(1.0, z::DType::f64), {x[0]})[0]; }, {wide}}.run(1e-5);
  Check{[](auto& x) { return z::gelu(x[0] * x[1]); }, {random_f64({3, 5}, 12, -3.0, 3.0), random_f64({5}, 13)}}.run();
}

TEST_CASE("binary VJPs with broadcasting match finite differences") {
  auto a = random_f64({2, 3}, 3), row = random_f64({3}, 4), column = random_f64({2, 1}, 5);
  auto positive = random_f64({2, 3}, 6, 0.5, 2.0);
  auto scalar = random_f64({}, 7);
  Check{[](auto& x) { return x[0] + x[1]; }, {a, row}}.run();
  Check{[](auto& x) { return x[0] - x[1]; }, {a, column}}.run();
  Check{[](auto& x) { return x[0] * x[1]; }, {column, row}}.run();
  Check{[](auto& x) { return x[0] / x[1]; }, {a, positive}}.run();
  Check{[](auto& x) { return x[0] * x[1]; }, {a, scalar}}.run();
  Check{[](auto& x) { return z::pow(x[0], x[1]); }, {positive, row}}.run();
  Check{[](auto& x) { return z::maximum(x[0], x[1]); }, {a, row}}.run();
  Check{[](auto& x) { return z::minimum(x[0], x[1]); }, {column, a}}.run();
  Check{[](auto& x) { return z::where(x[0] > 0.0, x[0], x[1]); }, {a, row}}.run();
}

TEST_CASE("cast passes the gradient through, converted back to the input's dtype") {
  auto f = z::grad([](z::Tensor x) { return z::sum(z::cast(x, z::DType::f32) * 3.0); });
  z::Array g = f(random_f64({5}, 30));
  CHECK(g.dtype() == z::DType::f64);
  CHECK(g.to_vector<double>() == std::vector<double>(5, 3.0));
}

TEST_CASE("stop_gradient: the value passes, the gradient is zero where stopped") {
  // d/dx [x * stop(x)] = stop(x) = x, not 2x; d/dx [stop(x)^2] = 0.
  auto f = z::grad([](z::Tensor x) { return z::sum(x * z::stop_gradient(x) + z::square(z::stop_gradient(x))); });
  const z::Array x = random_f64({6}, 31);
  auto value = z::jit([](z::Tensor x) { return z::stop_gradient(x) * 2.0; })(x);
  CHECK(f(x).to_vector<double>() == x.to_vector<double>());
  CHECK(value.to_vector<double>() == (z::jit([](z::Tensor x) { return x * 2.0; })(x)).to_vector<double>());
}

TEST_CASE("stop_gradient: a straight-through estimator trains through a step function") {
  // y = x + stop(sign(x) - x): the forward value is sign(x), the gradient that of the identity.
  auto ste = [](z::Tensor x) {
    z::Tensor sign = z::where(z::greater(x, z::scalar(0.0, x.dtype())), z::scalar(1.0, x.dtype()), z::scalar(-1.0, x.dtype()));
    return x + z::stop_gradient(sign - x);
  };
  // Fit w so that sign(w) matches the targets' signs: loss = sum((ste(w) - t)^2).
  const z::Array t = z::Array::from<double>({4}, {1, -1, 1, -1});
  auto loss = [ste](z::Tensor w, z::Tensor target) { return z::sum(z::square(ste(w) - target)); };
  z::Array w = z::Array::from<double>({4}, {-0.3, 0.2, -0.1, 0.4});  // every sign wrong: loss 16
  CHECK(z::jit(loss)(w, t).item<double>() == 16.0);
  auto step = z::jit([loss](z::Tensor w, z::Tensor target) { return w - 0.1 * z::grad(loss)(w, target); });
  for (int i = 0; i < 5; ++i) w = step(w, t);
  CHECK(z::jit(loss)(w, t).item<double>() == 0.0);
}

TEST_CASE("reduction VJPs match finite differences") {
  auto x = random_f64({2, 3, 4}, 8);
  Check{[](auto& v) { return z::sum(v[0], {1}); }, {x}}.run();
  Check{[](auto& v) { return z::sum(v[0], {0, -1}, true); }, {x}}.run();
  Check{[](auto& v) { return z::max(v[0], {-1}); }, {x}}.run();
  Check{[](auto& v) { return z::mean(v[0], {0}); }, {x}}.run();
  Check{[](auto& v) { return z::var(v[0], {-1}); }, {x}}.run();
  Check{[](auto& v) { return z::softmax(v[0], -1); }, {x}}.run();
  Check{[](auto& v) { return z::log_softmax(v[0], 1); }, {x}}.run();
  Check{[](auto& v) { return z::logsumexp(v[0], {-1}); }, {x}}.run();
}

TEST_CASE("max splits its gradient evenly between ties") {
  auto f = z::grad([](z::Tensor x) { return z::max(x); });
  z::Array g = f(z::Array::from<double>({4}, std::vector<double>{1, 3, 3, 2}));
  CHECK(g.to_vector<double>() == std::vector<double>{0, 0.5, 0.5, 0});
}

TEST_CASE("relu's slope is 0 at 0 in both modes, as in JAX and PyTorch; NaN passes through") {
  // Its gradient is read from its output (y <= 0 where x <= 0), and forward mode goes through
  // where(x <= 0, 0, x): the two agree at 0, which maximum(x, 0) gave slope 1.
  const z::Array x = z::Array::from<double>({4}, std::vector<double>{-1, 0, 2, NAN});
  const z::Array y = z::jit([](z::Tensor t) { return z::relu(t); })(x);
  CHECK(y.at(0) == 0);
  CHECK(y.at(1) == 0);
  CHECK(y.at(2) == 2);
  CHECK(std::isnan(y.at(3)));
  const z::Array g = z::grad([](z::Tensor t) { return z::sum(z::relu(t) * 3.0); })(x);
  CHECK(g.to_vector<double>()[0] == 0);
  CHECK(g.to_vector<double>()[1] == 0);
  CHECK(g.to_vector<double>()[2] == 3);
  const z::Array ones = z::Array::from<double>({4}, std::vector<double>{1, 1, 1, 1});
  const z::Array tangent = std::get<1>(z::jvp([](z::Tensor t) { return z::relu(t); }, std::tuple{x}, std::tuple{ones}));
  CHECK(tangent.at(0) == 0);
  CHECK(tangent.at(1) == 0);
  CHECK(tangent.at(2) == 1);
}

TEST_CASE("a max pool after a ReLU splits its gradient evenly between ties, the mask recomputed in the backward pass") {
  // Window 1: ReLU output {0, 0, 3, 3}, two maxima. Window 2: all inputs negative, so four tied
  // zeros, each given a quarter, then stopped by the ReLU's slope (0 at and below 0).
  const z::Array x = z::Array::from<double>({1, 2, 4, 1}, std::vector<double>{-1, -2, 3, 3, -5, -6, -7, -8});
  auto f = z::grad([](z::Tensor t) { return z::sum(z::nets::max_pool(z::relu(t), {2, 2}, {2})); });
  CHECK(f(x).to_vector<double>() == std::vector<double>{0, 0, 0.5, 0.5, 0, 0, 0, 0});
  auto pooled = z::grad([](z::Tensor t) { return z::sum(z::nets::max_pool(t, {2, 2}, {2})); });
  CHECK(pooled(z::Array::from<double>({1, 2, 2, 1}, std::vector<double>{1, 1, 1, 1})).to_vector<double>() ==
        std::vector<double>{0.25, 0.25, 0.25, 0.25});
}

TEST_CASE("matmul VJPs match finite differences, with batch dims") {
  Check{[](auto& x) { return z::matmul(x[0], x[1]); }, {random_f64({3, 4}, 9), random_f64({4, 5}, 10)}}.run();
  Check{[](auto& x) { return z::matmul(x[0], x[1]); }, {random_f64({2, 3, 4}, 11), random_f64({4, 2}, 12)}}.run();
  Check{[](auto& x) { return z::matmul(x[0], x[1]); }, {random_f64({2, 1, 3, 4}, 13), random_f64({3, 4, 2}, 14)}}.run();
  Check{[](auto& x) { return z::matmul(x[0], x[1]); }, {random_f64({4}, 15), random_f64({4, 3}, 16)}}.run();
}

TEST_CASE("data-movement VJPs match finite differences") {
  auto x = random_f64({2, 3, 4}, 17);
  Check{[](auto& v) { return z::reshape(v[0], {4, -1}); }, {x}}.run();
  Check{[](auto& v) { return z::transpose(v[0], {2, 0, 1}); }, {x}}.run();
  Check{[](auto& v) { return z::moveaxis(v[0], 0, -1); }, {x}}.run();
  Check{[](auto& v) { return z::broadcast_to(v[0], {5, 2, 3, 4}); }, {x}}.run();
  Check{[](auto& v) { return z::slice(v[0], -1, 1, 4, 2); }, {x}}.run();
  Check{[](auto& v) { return z::slice(v[0], 0, 1, 2); }, {x}}.run();
  Check{[](auto& v) { return z::concat({v[0], v[1], v[0]}, 1); }, {x, random_f64({2, 1, 4}, 18)}}.run();
  Check{[](auto& v) { return z::squeeze(z::expand_dims(v[0], 1), {1}); }, {x}}.run();
}

TEST_CASE("has_aux: the loss's auxiliary result comes out beside the value and the gradient") {
  auto model = [](z::Params p, z::Tensor x) { return z::nets::linear(p, x, 3); };
  auto with_aux = [model](z::Params p, z::Tensor x, z::Tensor y) {
    z::Tensor logits = model(p, x);
    return std::pair{z::losses::softmax_cross_entropy(logits, y), std::tuple{logits, z::metrics::accuracy(logits, y)}};
  };
  auto plain = [model](z::Params p, z::Tensor x, z::Tensor y) { return z::losses::softmax_cross_entropy(model(p, x), y); };
  z::Array x({4, 5}, z::DType::f32);
  for (int64_t i = 0; i < x.size(); ++i) x.set(i, std::sin(0.7 * static_cast<double>(i)));
  const z::Array y = z::Array::from<int32_t>({4}, {0, 2, 1, 2});
  const z::ParamTree params = z::trace(model, z::random::key(4), x);

  auto [value, aux, grads] = z::value_and_grad(with_aux, z::has_aux)(params, x, y);
  auto [want_value, want_grads] = z::value_and_grad(plain)(params, x, y);
  CHECK(value.item<float>() == want_value.item<float>());
  const auto& [logits, accuracy] = aux;
  const z::Array want_logits = z::jit(model)(params, x);
  REQUIRE(logits.shape() == want_logits.shape());
  for (int64_t i = 0; i < logits.size(); ++i) CHECK(logits.at(i) == want_logits.at(i));
  CHECK(accuracy.item<float>() == z::jit([model](z::Params p, z::Tensor a, z::Tensor b) {
                                    return z::metrics::accuracy(model(p, a), b);
                                  })(params, x, y).item<float>());
  for (size_t k = 0; k < grads.size(); ++k)
    for (int64_t i = 0; i < grads.leaves()[k].second.size(); ++i)
      CHECK(grads.leaves()[k].second.at(i) == want_grads.leaves()[k].second.at(i));

  // grad(f, has_aux) gives {grads, aux}, inside a jitted step as well.
  auto step = z::jit([with_aux](z::Params p, z::Tensor a, z::Tensor b) {
    auto [g, out] = z::grad(with_aux, z::has_aux)(p, a, b);
    return std::pair{g, std::get<1>(out)};
  });
  auto [g, acc] = step(params, x, y);
  CHECK(acc.item<float>() == accuracy.item<float>());
  for (size_t k = 0; k < g.size(); ++k) CHECK(g.leaves()[k].second.bitwise_equal(grads.leaves()[k].second));
}
