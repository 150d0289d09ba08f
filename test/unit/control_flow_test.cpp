// z::scan and z::fori_loop against the same loops unrolled into the graph: values, gradients
// (every operand: the initial carry, xs, captured parameters), forward mode, vmap, second order,
// compiled and interpreted; the graph's size flat in the number of steps; the errors.
#include <doctest/doctest.h>
#include <zephyr/zephyr.h>

#include <cmath>

#include "reference.h"
#include "test_support.h"

namespace z = zephyr;
using z::testing::contains;
using z::testing::error_of;
using z::testing::random_array;

namespace {

void check_equal(const z::Array& got, const z::Array& want, double tol, const std::string& what) {
  INFO(what);
  REQUIRE(got.shape() == want.shape());
  int bad = 0;
  for (int64_t i = 0; i < got.size(); ++i)
    if (std::abs(got.at(i) - want.at(i)) > tol * std::max(1.0, std::abs(want.at(i))) && bad++ < 3)
      CHECK_MESSAGE(false, "element " << i << ": " << got.at(i) << " vs " << want.at(i));
  CHECK(bad == 0);
}
void check_all(const std::vector<z::Array>& got, const std::vector<z::Array>& want, double tol, const std::string& what) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) check_equal(got[i], want[i], tol, what + ", result " + std::to_string(i));
}

// An Elman RNN cell: the carry h [batch, hidden] and one step's inputs x [batch, features].
z::Tensor cell(z::Tensor h, z::Tensor x, z::Tensor w, z::Tensor u, z::Tensor b) {
  return z::tanh(z::matmul(x, w) + z::matmul(h, u) + b);
}

// The RNN as a scan, its outputs a function of the carry (not the carry itself: the vmap path).
std::pair<z::Tensor, z::Tensor> rnn_scan(z::Tensor w, z::Tensor u, z::Tensor b, z::Tensor h0, z::Tensor xs,
                                         bool reverse) {
  return z::scan([&](z::Tensor h, z::Tensor x) {
    z::Tensor next = cell(h, x, w, u, b);
    return std::pair{next, z::sin(next) * 2.0 + h};
  }, h0, xs, {.reverse = reverse});
}
// The same loop unrolled by C++.
std::pair<z::Tensor, z::Tensor> rnn_unrolled(z::Tensor w, z::Tensor u, z::Tensor b, z::Tensor h0, z::Tensor xs,
                                             bool reverse) {
  const int64_t steps = xs.shape()[0];
  std::vector<z::Tensor> ys(static_cast<size_t>(steps));
  z::Tensor h = h0;
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t t = reverse ? steps - 1 - s : s;
    z::Tensor next = cell(h, z::squeeze(z::slice(xs, 0, t, t + 1), {0}), w, u, b);
    ys[static_cast<size_t>(t)] = z::expand_dims(z::sin(next) * 2.0 + h, 0);
    h = next;
  }
  return {h, z::concat(ys, 0)};
}

struct Rnn {
  z::Array w = random_array({3, 5}, 1), u = random_array({5, 5}, 2, z::DType::f32, -0.5, 0.5),
           b = random_array({5}, 3), h0 = random_array({2, 5}, 4);
  z::Array xs;
  explicit Rnn(int64_t steps) : xs(random_array({steps, 2, 3}, 5)) {}
};

template <class Loop>
auto value_fn(Loop loop, bool reverse) {
  return [=](z::Tensor w, z::Tensor u, z::Tensor b, z::Tensor h0, z::Tensor xs) {
    auto [h, ys] = loop(w, u, b, h0, xs, reverse);
    return std::vector<z::Tensor>{h, ys};
  };
}
// The gradients of a scalar of the final carry and the outputs, for every operand.
template <class Loop>
auto grad_fn(Loop loop, bool reverse) {
  return [=](z::Tensor w, z::Tensor u, z::Tensor b, z::Tensor h0, z::Tensor xs) {
    auto [h, ys] = loop(w, u, b, h0, xs, reverse);
    z::Tensor loss = z::sum(z::square(h)) + z::sum(ys * z::cos(ys));
    return z::vjp(loss, z::scalar(1.0), {w, u, b, h0, xs});
  };
}

}  // namespace

TEST_CASE("scan: values and gradients equal the unrolled loop's, compiled and interpreted, both directions") {
  for (bool reverse : {false, true}) {
    for (int64_t steps : {1, 7}) {
      const std::string what = fmt::format("{} steps{}", steps, reverse ? ", reverse" : "");
      INFO(what);
      const Rnn r(steps);
      const auto want = z::jit(value_fn(rnn_unrolled, reverse))(r.w, r.u, r.b, r.h0, r.xs);
      check_all(z::jit(value_fn(rnn_scan, reverse))(r.w, r.u, r.b, r.h0, r.xs), want, 1e-5, what + ": values");
      check_all(z::interpret(value_fn(rnn_scan, reverse))(r.w, r.u, r.b, r.h0, r.xs), want, 1e-5,
                what + ": interpreted values");
      const auto grads = z::jit(grad_fn(rnn_unrolled, reverse))(r.w, r.u, r.b, r.h0, r.xs);
      check_all(z::jit(grad_fn(rnn_scan, reverse))(r.w, r.u, r.b, r.h0, r.xs), grads, 1e-5, what + ": gradients");
      check_all(z::interpret(grad_fn(rnn_scan, reverse))(r.w, r.u, r.b, r.h0, r.xs), grads, 1e-5,
                what + ": interpreted gradients");
    }
  }
}

TEST_CASE("scan: a carry of several Tensors, an output that is part of the carry, and a loop inside a loop") {
  // Fibonacci-like pairs (a, b) -> (b, a + b) with a running product, over rows of xs.
  auto f = [](z::Tensor a0, z::Tensor b0, z::Tensor xs) {
    auto [last, ys] = z::scan([](std::vector<z::Tensor> c, z::Tensor x) {
      z::Tensor inner = z::fori_loop(0, 3, [&](z::Tensor, z::Tensor acc) { return acc * 0.5 + x; }, c[1]);
      std::vector<z::Tensor> next{c[1], c[0] + inner};
      return std::pair{next, next[1]};
    }, std::vector<z::Tensor>{a0, b0}, xs);
    return std::vector<z::Tensor>{last[0], last[1], ys};
  };
  const z::Array a0 = random_array({2, 2}, 6), b0 = random_array({2, 2}, 7), xs = random_array({5, 2, 2}, 8);
  const auto got = z::jit(f)(a0, b0, xs);
  // By hand.
  std::vector<double> a(a0.size()), b(b0.size()), ys;
  for (int64_t i = 0; i < a0.size(); ++i) a[i] = a0.at(i), b[i] = b0.at(i);
  for (int64_t t = 0; t < 5; ++t) {
    std::vector<double> next(a.size());
    for (size_t i = 0; i < a.size(); ++i) {
      double acc = b[i];
      for (int k = 0; k < 3; ++k) acc = acc * 0.5 + xs.at(t * 4 + static_cast<int64_t>(i));
      next[i] = a[i] + acc;
    }
    a = b;
    b = next;
    ys.insert(ys.end(), b.begin(), b.end());
  }
  z::testing::check_close(got[0], {{2, 2}, a}, 1e-5, "first carry");
  z::testing::check_close(got[1], {{2, 2}, b}, 1e-5, "second carry");
  z::testing::check_close(got[2], {{5, 2, 2}, ys}, 1e-5, "outputs");
  check_all(z::interpret(f)(a0, b0, xs), got, 1e-5, "interpreted");
}

TEST_CASE("fori_loop: sums and powers against their closed forms, and its gradient") {
  auto sum_of_squares = [](z::Tensor zero) {
    return z::fori_loop(3, 11, [](z::Tensor i, z::Tensor acc) { return acc + z::cast(i * i, z::DType::f32); }, zero);
  };
  CHECK(z::jit(sum_of_squares)(z::Array::scalar(0.0f)).item<float>() == 3 * 3 + 4 * 4 + 5 * 5 + 6 * 6 + 7 * 7 + 8 * 8 +
                                                                              9 * 9 + 10 * 10);
  // x -> x^(2^5) by repeated squaring; d/dx = 32 x^31.
  auto power = [](z::Tensor x) {
    return z::fori_loop(0, 5, [](z::Tensor, z::Tensor v) { return v * v; }, x);
  };
  const float x = 1.02f;
  CHECK(z::jit(power)(z::Array::scalar(x)).item<float>() == doctest::Approx(std::pow(x, 32)).epsilon(1e-5));
  CHECK(z::jit(z::grad(power))(z::Array::scalar(x)).item<float>() == doctest::Approx(32 * std::pow(x, 31)).epsilon(1e-5));
  // An empty range returns the carry as it came.
  CHECK(z::jit([](z::Tensor v) { return z::fori_loop(4, 4, [](z::Tensor, z::Tensor c) { return c * 2.0; }, v); })(
            z::Array::scalar(3.0f)).item<float>() == 3.0f);
}

TEST_CASE("scan: forward mode, second order and vmap pass through it") {
  const Rnn r(6);
  auto loss = [](z::Tensor w, z::Tensor u, z::Tensor b, z::Tensor h0, z::Tensor xs) {
    auto [h, ys] = rnn_scan(w, u, b, h0, xs, false);
    return z::sum(z::square(h)) + z::sum(ys * ys);
  };
  auto loss_unrolled = [](z::Tensor w, z::Tensor u, z::Tensor b, z::Tensor h0, z::Tensor xs) {
    auto [h, ys] = rnn_unrolled(w, u, b, h0, xs, false);
    return z::sum(z::square(h)) + z::sum(ys * ys);
  };
  SUBCASE("jvp along every operand") {
    const z::Array vw = random_array({3, 5}, 11), vu = random_array({5, 5}, 12), vb = random_array({5}, 13),
                   vh = random_array({2, 5}, 14), vx = random_array({6, 2, 3}, 15);
    auto tangent_of = [](auto f) {
      return [f](z::Tensor w, z::Tensor u, z::Tensor b, z::Tensor h0, z::Tensor xs, z::Tensor vw, z::Tensor vu,
                 z::Tensor vb, z::Tensor vh, z::Tensor vx) {
        return std::get<1>(z::jvp(f, std::tuple{w, u, b, h0, xs}, std::tuple{vw, vu, vb, vh, vx}));
      };
    };
    const z::Array want = z::jit(tangent_of(loss_unrolled))(r.w, r.u, r.b, r.h0, r.xs, vw, vu, vb, vh, vx);
    check_equal(z::jit(tangent_of(loss))(r.w, r.u, r.b, r.h0, r.xs, vw, vu, vb, vh, vx), want, 1e-4, "jvp");
  }
  SUBCASE("the gradient of the gradient (hvp of the loss in u)") {
    const z::Array v = random_array({5, 5}, 16);
    auto hvp_of = [](auto f) {
      return [f](z::Tensor w, z::Tensor u, z::Tensor b, z::Tensor h0, z::Tensor xs, z::Tensor v) {
        auto grad_u = [&](z::Tensor uu) { return z::vjp(f(w, uu, b, h0, xs), z::scalar(1.0), {uu})[0]; };
        z::Tensor directional = z::sum(grad_u(u) * v);  // <grad, v>, differentiated again
        return z::vjp(directional, z::scalar(1.0), {u})[0];
      };
    };
    const z::Array want = z::jit(hvp_of(loss_unrolled))(r.w, r.u, r.b, r.h0, r.xs, v);
    check_equal(z::jit(hvp_of(loss))(r.w, r.u, r.b, r.h0, r.xs, v), want, 1e-4, "grad of grad");
  }
  SUBCASE("vmap over a batch of sequences, and per-sequence gradients") {
    const z::Array xs = random_array({4, 6, 2, 3}, 17);  // four sequences
    auto per_sequence = [&](auto f) {
      return z::vmap([f](z::Tensor w, z::Tensor u, z::Tensor b, z::Tensor h0, z::Tensor x) {
        return z::vjp(f(w, u, b, h0, x), z::scalar(1.0), {u, x});
      }, {z::unbatched, z::unbatched, z::unbatched, z::unbatched, 0});
    };
    check_all(z::jit(per_sequence(loss))(r.w, r.u, r.b, r.h0, xs), z::jit(per_sequence(loss_unrolled))(r.w, r.u, r.b, r.h0, xs),
              1e-5, "vmap of grad");
  }
}

TEST_CASE("scan: the graph does not grow with the number of steps") {
  auto nodes_of = [](auto f, int64_t steps) {
    const Rnn r(steps);
    return z::topological_order(z::make_function(f, r.w, r.u, r.b, r.h0, r.xs).results).size();
  };
  CHECK(nodes_of(grad_fn(rnn_scan, false), 256) == nodes_of(grad_fn(rnn_scan, false), 16));
  // The printed graph shows each body under its node.
  const Rnn r(4);
  const std::string text = z::print_graph(z::make_function(value_fn(rnn_scan, false), r.w, r.u, r.b, r.h0, r.xs));
  CHECK(contains(text, "= scan("));
  CHECK(contains(text, "    func @scan_body("));
  CHECK(contains(text, "= tanh("));
  CHECK(nodes_of(grad_fn(rnn_unrolled, false), 256) > 10 * nodes_of(grad_fn(rnn_unrolled, false), 16));
}

TEST_CASE("scan: errors name the problem, both shapes and the user's line") {
  const z::Array h0 = random_array({2, 5}, 1), xs = random_array({4, 2, 5}, 2);
  const std::string grows = error_of([&] {
    z::jit([](z::Tensor h, z::Tensor x) {
      return z::scan([](z::Tensor c, z::Tensor step) { return std::pair{z::concat({c, step}, 0), c}; }, h, x).first;
    })(h0, xs);
  });
  CHECK(contains(grows, "[scan]"));
  CHECK(contains(grows, "carry 0 as f32[4, 5], but it came in as f32[2, 5]"));
  CHECK(contains(grows, "control_flow_test.cpp"));
  const std::string scalar_xs = error_of([&] {
    z::jit([](z::Tensor h, z::Tensor x) {
      return z::scan([](z::Tensor c, z::Tensor) { return std::pair{c, c}; }, h, z::sum(x)).first;
    })(h0, xs);
  });
  CHECK(contains(scalar_xs, "one step per slice of xs along axis 0, but xs is f32[]"));
  const std::string mixed = error_of([&] {
    z::jit([](z::Tensor h, z::Tensor x) {
      std::vector<z::Tensor> carry{h, z::cast(h, z::DType::i32)};
      return z::scan([](std::vector<z::Tensor> c, z::Tensor) { return std::pair{c, z::Tensor()}; }, carry, x).first[0];
    })(h0, xs);
  });
  CHECK(contains(mixed, "the carries must share one dtype"));
}

TEST_CASE("while_loop: a trip count decided as it runs, against plain loops; jvp and vmap; grad is a clear error") {
  // Newton's iteration for sqrt(a), until the step is below 1e-6: a different count per value.
  auto newton = [](z::Tensor a) {
    std::vector<z::Tensor> start{a, z::full({}, 0.0) + 1e9};  // {estimate, last step}
    auto last = z::while_loop([](const std::vector<z::Tensor>& s) { return z::greater(s[1], z::scalar(1e-6)); },
                              [&](const std::vector<z::Tensor>& s) {
                                z::Tensor next = (s[0] + a / s[0]) * 0.5;
                                return std::vector<z::Tensor>{next, z::abs(next - s[0])};
                              }, start);
    return last[0];
  };
  for (float a : {2.0f, 10.0f, 0.3f})
    CHECK(z::jit(newton)(z::Array::scalar(a)).item<float>() == doctest::Approx(std::sqrt(a)).epsilon(1e-6));

  // v -> v² until v exceeds 100: 1.5 squares four times (656.8), so the result is x^16.
  auto square_until = [](z::Tensor x) {
    return z::while_loop([](z::Tensor v) { return z::less(v, z::scalar(100.0)); }, [](z::Tensor v) { return v * v; }, x);
  };
  CHECK(z::jit(square_until)(z::Array::scalar(1.5f)).item<float>() == doctest::Approx(std::pow(1.5, 16)).epsilon(1e-6));
  auto tangent = [square_until](z::Tensor x, z::Tensor dx) { return std::get<1>(z::jvp(square_until, std::tuple{x}, std::tuple{dx})); };
  CHECK(z::jit(tangent)(z::Array::scalar(1.5f), z::Array::scalar(1.0f)).item<float>() ==
        doctest::Approx(16 * std::pow(1.5, 15)).epsilon(1e-5));
  // Under vmap each example stops at its own count: 1.5 after 4 squarings, 3 after 3, 200 after none.
  const z::Array xs = z::Array::from({3}, {1.5f, 3.0f, 200.0f});
  z::testing::check_close(z::jit(z::vmap(square_until))(xs), {{3}, {std::pow(1.5, 16), std::pow(3.0, 8), 200.0}}, 1e-6,
                          "vmap");
  z::testing::check_close(z::interpret(z::vmap(square_until))(xs), {{3}, {std::pow(1.5, 16), std::pow(3.0, 8), 200.0}},
                          1e-6, "interpreted vmap");
  const std::string error = error_of([&] { z::jit(z::grad(square_until))(z::Array::scalar(1.5f)); });
  CHECK(contains(error, "[while_loop] is forward-only"));
  CHECK(contains(error, "z::scan or z::fori_loop"));
  CHECK(contains(error, "control_flow_test.cpp"));
}

TEST_CASE("cond: the branch taken, its gradient and tangent, vmap with one predicate per example") {
  // |x| by branches; d/dx = sign(x).
  auto branchy = [](z::Tensor x) {
    return z::cond(z::greater(x, z::scalar(0.0)), [](z::Tensor a) { return a * a * a; }, [](z::Tensor a) { return z::sin(a); }, x);
  };
  for (float x : {0.7f, -0.4f}) {
    const double value = x > 0 ? std::pow(x, 3) : std::sin(x), slope = x > 0 ? 3 * x * x : std::cos(x);
    CHECK(z::jit(branchy)(z::Array::scalar(x)).item<float>() == doctest::Approx(value).epsilon(1e-6));
    CHECK(z::jit(z::grad(branchy))(z::Array::scalar(x)).item<float>() == doctest::Approx(slope).epsilon(1e-6));
    CHECK(z::interpret(z::grad(branchy))(z::Array::scalar(x)).item<float>() == doctest::Approx(slope).epsilon(1e-6));
    auto tangent = [branchy](z::Tensor v) { return std::get<1>(z::jvp(branchy, std::tuple{v}, std::tuple{v * 0.0 + 1.0})); };
    CHECK(z::jit(tangent)(z::Array::scalar(x)).item<float>() == doctest::Approx(slope).epsilon(1e-6));
  }
  // A predicate per example: each takes its own branch; and per-example gradients.
  const z::Array xs = z::Array::from({4}, {0.7f, -0.4f, 1.2f, -2.0f});
  std::vector<double> values, slopes;
  for (int64_t i = 0; i < 4; ++i) {
    const double x = xs.at(i);
    values.push_back(x > 0 ? x * x * x : std::sin(x));
    slopes.push_back(x > 0 ? 3 * x * x : std::cos(x));
  }
  z::testing::check_close(z::jit(z::vmap(branchy))(xs), {{4}, values}, 1e-6, "vmap");
  z::testing::check_close(z::jit(z::vmap(z::grad(branchy)))(xs), {{4}, slopes}, 1e-6, "vmap of grad");
  // Only the branch taken is computed: the branches' work lives inside the cond, not before it.
  const z::Function fn = z::make_function([](z::Tensor p, z::Tensor a, z::Tensor b) {
    return z::cond(z::greater(z::sum(p), z::scalar(0.0)), [&] { return z::matmul(a, b); }, [&] { return a; });
  }, z::Array::zeros({2}), random_array({8, 8}, 1), random_array({8, 8}, 2));
  for (const z::Node* n : z::topological_order(fn.results)) CHECK(n->op != z::OpKind::MatMul);
  const std::string error = error_of([&] {
    z::jit([](z::Tensor x) {
      return z::cond(z::greater(x, z::scalar(0.0)), [&] { return z::reshape(x, {1}); }, [&] { return z::full({2}, 1.0) * x; });
    })(z::Array::scalar(1.0f));
  });
  INFO(error);
  CHECK(contains(error, "[cond] the false branch returns result 0 as f32[2], but the true branch returns f32[1]: both branches must"));
}
