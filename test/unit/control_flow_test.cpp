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
  // Linear branches: each branch's gradient folds to a constant, which the lowering once yielded
  // from the scf.if as a global beside an allocation (a bufferization the JIT could not link).
  auto linear = [](z::Tensor x) {
    return z::cond(z::greater(x, z::scalar(0.0)), [](z::Tensor a) { return a * 2.0; }, [](z::Tensor a) { return a; }, x);
  };
  CHECK(z::jit(z::grad(linear))(z::Array::scalar(5.0f)).item<float>() == 2.0f);
  CHECK(z::jit(z::grad(linear))(z::Array::scalar(-1.0f)).item<float>() == 1.0f);
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

TEST_CASE("control flow: run-time checks inside a body count every step, and only the branch taken") {
  // The check reads the carry each step starts from: from 4, that is 4, 8, ..., 2048, of which
  // 1024 and 2048 are not below 1000; and the step's slice of xs, two elements of which are negative.
  auto doubling = [](z::Tensor c0, z::Tensor xs) {
    return z::scan([](z::Tensor c, z::Tensor x) {
      z::runtime_check(z::less(c, z::scalar(1000.0)), "carry too large");
      z::runtime_check(z::greater_equal(x, z::scalar(0.0)), "negative input");
      return std::pair{c * 2.0, c + z::sum(x)};
    }, c0, xs).second;
  };
  std::vector<float> values(10 * 3, 1.0f);
  const z::Array ok = z::Array::from({10, 3}, values);
  values[4] = -1.0f;
  values[29] = -2.0f;
  const z::Array negative = z::Array::from({10, 3}, values);
  for (const bool compiled : {true, false}) {
    INFO((compiled ? "compiled" : "interpreted"));
    auto run = [&](const z::Array& c0, const z::Array& xs) {
      return compiled ? z::jit(doubling)(c0, xs) : z::interpret(doubling)(c0, xs);
    };
    z::testing::check_close(run(z::Array::scalar(0.5f), ok), {{10}, {3.5, 4, 5, 7, 11, 19, 35, 67, 131, 259}}, 1e-6, "values");
    const std::string carry = error_of([&] { run(z::Array::scalar(4.0f), ok); });
    CHECK_MESSAGE(contains(carry, "carry too large, in a scan's step (2 of 10 elements)"), carry);
    const std::string input = error_of([&] { run(z::Array::scalar(0.5f), negative); });
    CHECK_MESSAGE(contains(input, "negative input, in a scan's step (2 of 30 elements)"), input);
  }
  // fori_loop is a scan over its indices; a scan inside a scan multiplies the counts.
  auto nested = [](z::Tensor x) {
    return z::fori_loop(0, 4, [](z::Tensor, z::Tensor outer) {
      return z::fori_loop(0, 5, [](z::Tensor i, z::Tensor c) {
        z::runtime_check(z::less(i, z::scalar(3, z::DType::i32)), "index past 2");
        return c + 1.0;
      }, outer);
    }, x);
  };
  const std::string inner = error_of([&] { z::jit(nested)(z::Array::scalar(0.0f)); });
  CHECK_MESSAGE(contains(inner, "index past 2, in a scan's step, in a scan's step (8 of 20 elements)"), inner);

  // while_loop: v -> v² while v < 1e6, checking v < 1e5 in the body. From 2 the body sees 2, 4,
  // 16, 256 and 65536; from 1.5 it sees 1.5, 2.25, 5.06, 25.6, 656.8 and 431439: one failure,
  // counted in the carry.
  auto squaring = [](z::Tensor x) {
    return z::while_loop([](z::Tensor v) { return z::less(v, z::scalar(1e6)); }, [](z::Tensor v) {
      z::runtime_check(z::less(v, z::scalar(1e5)), "too large");
      return v * v;
    }, x);
  };
  CHECK(z::jit(squaring)(z::Array::scalar(2.0f)).item<float>() == 4294967296.0f);
  const std::string loop = error_of([&] { z::jit(squaring)(z::Array::scalar(1.5f)); });
  CHECK_MESSAGE(contains(loop, "too large, in a while_loop's body (1 elements, over the loop's steps)"), loop);
  // Under vmap each example counts its own: 1.5 fails at 431439, 3 never (6561, then 4.3e7 ends
  // the loop), 1.2 at 1.2^64 = 117000.
  const std::string batched = error_of([&] { z::jit(z::vmap(squaring))(z::Array::from({3}, {1.5f, 3.0f, 1.2f})); });
  CHECK_MESSAGE(contains(batched, "too large, in a while_loop's body (2 elements, over the loop's steps)"), batched);
  // A bool carry holds no count: the message says "at least".
  auto flag = [](z::Tensor b, z::Tensor x) {
    return z::while_loop([](z::Tensor c) { return c; }, [&](z::Tensor) {
      z::runtime_check(z::less(x, z::scalar(0.0)), "x not negative");
      return z::full({}, 0.0, z::DType::bool_);
    }, b);
  };
  const std::string at_least = error_of([&] { z::jit(flag)(z::Array::full({}, 1.0, z::DType::bool_), z::Array::from({2}, {1.0f, 2.0f})); });
  CHECK_MESSAGE(contains(at_least, "x not negative, in a while_loop's body (at least 1 elements"), at_least);
  const std::string condition = error_of([&] {
    z::jit([](z::Tensor x) {
      return z::while_loop([](z::Tensor v) {
        z::runtime_check(z::less(v, z::scalar(10.0)), "v");
        return z::less(v, z::scalar(5.0));
      }, [](z::Tensor v) { return v + 1.0; }, x);
    })(z::Array::scalar(0.0f));
  });
  CHECK_MESSAGE(contains(condition, "[while_loop] the condition makes a run-time check"), condition);

  // cond: a check counts only in the branch taken. The false branch's check fails wherever it
  // runs, so x = 5 (true branch) passes and x = -1 fails; x = 20 fails the true branch's.
  auto branches = [](z::Tensor x) {
    return z::cond(z::greater(x, z::scalar(0.0)), [](z::Tensor a) {
      z::runtime_check(z::less(a, z::scalar(10.0)), "true branch");
      return a * 2.0;
    }, [](z::Tensor a) {
      z::runtime_check(z::greater(a, z::scalar(100.0)), "false branch");
      return a;
    }, x);
  };
  for (const bool compiled : {true, false}) {
    INFO((compiled ? "compiled" : "interpreted"));
    auto run = [&](float x) {
      return compiled ? z::jit(branches)(z::Array::scalar(x)) : z::interpret(branches)(z::Array::scalar(x));
    };
    CHECK(run(5.0f).item<float>() == 10.0f);
    const std::string taken_false = error_of([&] { run(-1.0f); });
    CHECK_MESSAGE(contains(taken_false, "false branch, in a cond's branch (1 of 1 elements)"), taken_false);
    CHECK_MESSAGE(!contains(taken_false, "true branch"), taken_false);
    const std::string taken_true = error_of([&] { run(20.0f); });
    CHECK_MESSAGE(contains(taken_true, "true branch, in a cond's branch (1 of 1 elements)"), taken_true);
  }
  // With one predicate per example, each example's check comes from its own branch.
  CHECK(z::jit(z::vmap(branches))(z::Array::from({2}, {5.0f, 1.0f})).shape() == z::Shape{2});
  const std::string mixed = error_of([&] { z::jit(z::vmap(branches))(z::Array::from({3}, {5.0f, -1.0f, -2.0f})); });
  CHECK_MESSAGE(contains(mixed, "false branch, in a cond's branch (2 of 3 elements)"), mixed);
  // The gradient of a function with checks in its branches still runs, and checks.
  CHECK(z::jit(z::grad(branches))(z::Array::scalar(5.0f)).item<float>() == 2.0f);
}
