// Forward mode (z::jvp): every differentiable primitive's JVP rule against central finite
// differences in f64, and against its VJP rule through the identity <u, J v> = <Jᵀ u, v>;
// then jvp on whole functions, under jit and interpret, and its errors.
#include <doctest/doctest.h>
#include <zephyr/zephyr.h>

#include <cmath>
#include <functional>
#include <set>

#include "reference.h"
#include "test_support.h"

namespace z = zephyr;

namespace {

z::Array random_f64(z::Shape shape, uint64_t seed, double lo = -1, double hi = 1) {
  return z::random::uniform(z::random::key(seed), std::move(shape), z::DType::f64, lo, hi);
}

double dot(const z::Array& a, const z::Array& b) {
  double s = 0;
  for (int64_t i = 0; i < a.size(); ++i) s += a.at(i) * b.at(i);
  return s;
}

// A function of x (3, 4) in (-1, 1) and p (3, 4) in (0.5, 2), in f64.
using Fn = std::function<z::Tensor(z::Tensor x, z::Tensor p)>;

struct JvpCase {
  const char* name;
  Fn f;
  // Finite differences move x too; not through stop_gradient, whose derivative is 0 by definition.
  bool differences_move_x = true;
  // Step and tolerance: f64 throughout, except where the function rounds through f32.
  double step = 1e-6, tolerance = 1e-6;
  // Also checked against its VJP (not while_loop, which is forward-only).
  bool has_vjp = true;
};

const std::vector<JvpCase>& cases() {
  static const std::vector<JvpCase> all = {
      {"neg", [](z::Tensor x, z::Tensor) { return z::neg(x); }},
      {"abs", [](z::Tensor x, z::Tensor) { return z::abs(x); }},
      {"exp", [](z::Tensor x, z::Tensor) { return z::exp(x); }},
      {"log", [](z::Tensor, z::Tensor p) { return z::log(p); }},
      {"tanh", [](z::Tensor x, z::Tensor) { return z::tanh(x); }},
      {"sqrt", [](z::Tensor, z::Tensor p) { return z::sqrt(p); }},
      {"rsqrt", [](z::Tensor, z::Tensor p) { return z::rsqrt(p); }},
      {"sin", [](z::Tensor x, z::Tensor) { return z::sin(x); }},
      {"cos", [](z::Tensor x, z::Tensor) { return z::cos(x); }},
      {"add (broadcast row)", [](z::Tensor x, z::Tensor p) { return x + z::slice(p, 0, 0, 1); }},
      {"sub (broadcast column)", [](z::Tensor x, z::Tensor p) { return z::slice(x, 1, 1, 2) - p; }},
      {"mul", [](z::Tensor x, z::Tensor p) { return x * p; }},
      {"div", [](z::Tensor x, z::Tensor p) { return x / p; }},
      {"pow", [](z::Tensor x, z::Tensor p) { return z::pow(p, x); }},
      {"maximum", [](z::Tensor x, z::Tensor p) { return z::maximum(x, p - 1.0); }},
      {"minimum", [](z::Tensor x, z::Tensor p) { return z::minimum(x, p - 1.0); }},
      {"select", [](z::Tensor x, z::Tensor p) { return z::where(z::greater(x, z::scalar(0.0, z::DType::f64)), x * p, p); }},
      {"cast", [](z::Tensor x, z::Tensor) { return z::cast(z::cast(x, z::DType::f32), z::DType::f64) * 2.0; }, true, 1e-2, 1e-4},
      {"stop_gradient", [](z::Tensor x, z::Tensor p) { return z::stop_gradient(x) * p; }, false},
      {"after (in a checkpoint's gradient)", [](z::Tensor x, z::Tensor p) {
         auto f = [](z::Tensor a, z::Tensor b) {
           return z::sum(z::checkpoint([](z::Tensor u, z::Tensor v) { return z::sin(u) * v; })(a, b));
         };
         return z::grad(f)(x, p);
       }},
      {"scan", [](z::Tensor x, z::Tensor p) {
         return z::scan([&](z::Tensor c, z::Tensor row) {
           z::Tensor next = z::sin(c * z::slice(p, 0, 0, 1) + row);
           return std::pair{next, next};
         }, z::slice(p, 0, 1, 2), x).second;
       }},
      {"while", [](z::Tensor x, z::Tensor p) {
         return z::while_loop([](z::Tensor c) { return z::less(z::max(z::abs(c)), z::scalar(10.0, z::DType::f64)); },
                              [&](z::Tensor c) { return c * 1.7 + p; }, x);
       }, true, 1e-6, 1e-6, false},
      {"cond", [](z::Tensor x, z::Tensor p) {
         return z::cond(z::greater(z::sum(x), z::scalar(0.0, z::DType::f64)), [&] { return x * p; },
                        [&] { return z::sin(x) + p; });
       }},
      {"reduce_sum", [](z::Tensor x, z::Tensor) { return z::sum(x, {1}); }},
      {"reduce_max", [](z::Tensor x, z::Tensor p) { return z::max(x * p, {0}); }},
      {"matmul", [](z::Tensor x, z::Tensor p) { return z::matmul(x, z::transpose(p)); }},
      {"reshape", [](z::Tensor x, z::Tensor) { return z::reshape(x, {2, 6}); }},
      {"transpose", [](z::Tensor x, z::Tensor) { return z::transpose(x); }},
      {"broadcast_to", [](z::Tensor x, z::Tensor) { return z::broadcast_to(z::reshape(x, {1, 3, 4}), {2, 3, 4}); }},
      {"slice", [](z::Tensor x, z::Tensor) { return z::strided_slice(x, {0, 1}, {2, 2}, {2, 2}); }},
      {"concat", [](z::Tensor x, z::Tensor p) { return z::concat({x, p}, 0); }},
      {"pad", [](z::Tensor x, z::Tensor) { return z::pad(x, {1, 0}, {0, 2}, {1, 1}, 3.0); }},
      {"reverse", [](z::Tensor x, z::Tensor) { return z::reverse(x, {1}); }},
      {"gather", [](z::Tensor x, z::Tensor) {
         return z::take(x, z::constant(z::Array::from<int32_t>({4}, {2, 0, 2, 1})));
       }},
      {"scatter_add", [](z::Tensor x, z::Tensor) {
         return z::scatter_add(z::constant(z::Array::from<int32_t>({3}, {1, 1, 0})), x, 2);
       }},
  };
  return all;
}

const z::Array kX = random_f64({3, 4}, 1), kP = random_f64({3, 4}, 2, 0.5, 2.0);
const z::Array kVx = random_f64({3, 4}, 3), kVp = random_f64({3, 4}, 4);

}  // namespace

TEST_CASE("jvp: every primitive's rule matches central finite differences and its VJP") {
  std::set<z::OpKind> covered;
  for (const JvpCase& c : cases()) {
    INFO(std::string(c.name));
    auto forward = [&](z::Tensor x, z::Tensor p, z::Tensor vx, z::Tensor vp) {
      return z::jvp(c.f, std::tuple{x, p}, std::tuple{vx, vp});
    };
    auto [y, dy] = z::interpret(forward)(kX, kP, kVx, kVp);
    // Central differences along (vx, vp), exact for the piecewise-linear ops away from kinks.
    const double h = c.step;
    auto moved = [&](double s) {
      z::Array x = kX.clone(), p = kP.clone();
      for (int64_t i = 0; i < x.size(); ++i) {
        if (c.differences_move_x) x.data<double>()[i] += s * kVx.at(i);
        p.data<double>()[i] += s * kVp.at(i);
      }
      return z::interpret(c.f)(x, p);
    };
    const z::Array plus = moved(h), minus = moved(-h);
    z::testing::Ref numeric{dy.shape(), {}};
    for (int64_t i = 0; i < dy.size(); ++i) numeric.values.push_back((plus.at(i) - minus.at(i)) / (2 * h));
    z::testing::check_close(dy, numeric, c.tolerance, std::string(c.name) + ": jvp vs finite differences");

    // The function must outlive the loop: a temporary in the range initializer dies before the body runs.
    const z::Function traced = z::make_function(c.f, kX, kP);
    for (const z::Node* n : z::topological_order(traced.results)) covered.insert(n->op);
    // <u, J v> = <Jᵀ u, v> for a random cotangent u.
    if (!c.has_vjp) continue;
    const z::Array u = random_f64(y.shape(), 5);
    auto reverse = [&](z::Tensor x, z::Tensor p, z::Tensor cotangent) {
      return z::vjp(c.f(x, p), cotangent, {x, p});
    };
    const std::vector<z::Array> g = z::interpret(reverse)(kX, kP, u);
    CHECK_MESSAGE(dot(u, dy) == doctest::Approx(dot(g[0], kVx) + dot(g[1], kVp)).epsilon(c.tolerance * 1e-2),
                  std::string(c.name) << ": <u, Jv> vs <Jᵀu, v>");
  }
  // Every primitive with a float result has a case (the others' tangents are zero by rule).
  for (z::OpKind k : {
#define ZEPHYR_OP(kind, mnemonic) z::OpKind::kind,
#include <zephyr/op_kinds.def>
#undef ZEPHYR_OP
       }) {
    const bool no_tangent = k == z::OpKind::Iota || k == z::OpKind::BitXor || k == z::OpKind::BitOr ||
                            k == z::OpKind::ShiftLeft || k == z::OpKind::ShiftRightLogical || k == z::OpKind::Equal ||
                            k == z::OpKind::NotEqual || k == z::OpKind::Less || k == z::OpKind::LessEqual ||
                            k == z::OpKind::Greater || k == z::OpKind::GreaterEqual ||
                            k == z::OpKind::CustomVjp;  // forward mode through it is an error (custom_vjp_test)
    if (!no_tangent) CHECK_MESSAGE(covered.count(k), "no jvp case exercises " << z::mnemonic(k));
  }
}

TEST_CASE("jvp: a whole network's tangent, compiled and interpreted, equals a directional finite difference") {
  // An MLP with GELU and a softmax, differentiated in its input only: params are closed over.
  const z::Array x = random_f64({5, 6}, 6), v = random_f64({5, 6}, 7);
  const z::ParamTree params =
      z::trace([](z::Params p, z::Tensor t) { return z::nets::mlp(p, t, {7, 3}); }, z::random::key(8), x);
  auto net = [](z::Params p, z::Tensor t) { return z::softmax(z::gelu(z::nets::mlp(p, t, {7, 3}))); };
  auto tangent = [net](z::Params p, z::Tensor t, z::Tensor dt) {
    return z::jvp([&](z::Tensor s) { return net(p, s); }, std::tuple{t}, std::tuple{dt});
  };
  auto [y, dy] = z::jit(tangent)(params, x, v);
  auto [y2, dy2] = z::interpret(tangent)(params, x, v);
  z::testing::check_close(dy, [&] {
    z::testing::Ref r{dy2.shape(), {}};
    for (int64_t i = 0; i < dy2.size(); ++i) r.values.push_back(dy2.at(i));
    return r;
  }(), 1e-12, "compiled vs interpreted");
  const double h = 1e-6;
  z::Array plus = x.clone(), minus = x.clone();
  for (int64_t i = 0; i < x.size(); ++i) {
    plus.data<double>()[i] += h * v.at(i);
    minus.data<double>()[i] -= h * v.at(i);
  }
  const z::Array yp = z::interpret(net)(params, plus), ym = z::interpret(net)(params, minus);
  z::testing::Ref numeric{dy.shape(), {}};
  for (int64_t i = 0; i < dy.size(); ++i) numeric.values.push_back((yp.at(i) - ym.at(i)) / (2 * h));
  z::testing::check_close(dy, numeric, 1e-6, "jvp vs finite differences");
  CHECK(y.to_vector<double>() == y2.to_vector<double>());
}

TEST_CASE("jvp: on Arrays it compiles and returns Arrays, and x³·sin x has the closed-form derivative") {
  auto f = [](z::Tensor x) { return z::pow(x, 3.0) * z::sin(x); };
  const z::Array x = z::Array::from<double>({4}, {-2.0, -0.5, 0.7, 3.0});
  const z::Array ones = z::Array::from<double>({4}, {1, 1, 1, 1});
  auto [y, dy] = z::jvp(f, std::tuple{x}, std::tuple{ones});
  for (int i = 0; i < 4; ++i) {
    const double t = x.at(i);
    CHECK(y.at(i) == doctest::Approx(t * t * t * std::sin(t)).epsilon(1e-12));
    CHECK(dy.at(i) == doctest::Approx(3 * t * t * std::sin(t) + t * t * t * std::cos(t)).epsilon(1e-12));
  }
}

TEST_CASE("jvp: a tangent of another shape or dtype is an error naming both and the call's line") {
  auto f = [](z::Tensor x) { return z::exp(x); };
  const z::Array x = random_f64({3}, 9);
  CHECK_ERROR(z::jvp(f, std::tuple{x}, std::tuple{random_f64({4}, 10)}), "[jvp]", "jvp_test.cpp", "f64[4]", "f64[3]");
  CHECK_ERROR(z::jvp(f, std::tuple{x}, std::tuple{x.astype(z::DType::f32)}), "[jvp]", "f32[3]", "f64[3]");
}

TEST_CASE("second order: grad of grad, hvp and hessian of x³·sin x equal the closed form") {
  // f(x) = sum(x³ sin x) has a diagonal Hessian: f''(t) = 6t sin t + 6t² cos t − t³ sin t.
  auto f = [](z::Tensor x) { return z::sum(z::pow(x, 3.0) * z::sin(x)); };
  auto second = [](double t) { return 6 * t * std::sin(t) + 6 * t * t * std::cos(t) - t * t * t * std::sin(t); };
  const std::vector<double> points{-2.0, -0.5, 0.7, 3.0};
  const z::Array x = z::Array::from<double>({4}, points);
  const z::Array v = z::Array::from<double>({4}, {1.0, -2.0, 0.5, 3.0});

  auto grad_of_grad = z::grad([f](z::Tensor t) { return z::sum(z::grad(f)(t)); });
  const z::Array d2 = grad_of_grad(x);
  const z::Array hv = z::hvp(f)(x, v);
  const z::Array h = z::hessian(f)(x);
  REQUIRE(h.shape() == z::Shape{4, 4});
  for (int i = 0; i < 4; ++i) {
    INFO("x = " << points[i]);
    CHECK(d2.at(i) == doctest::Approx(second(points[i])).epsilon(1e-12));
    CHECK(hv.at(i) == doctest::Approx(second(points[i]) * v.at(i)).epsilon(1e-12));
    for (int j = 0; j < 4; ++j) CHECK(h.at(i * 4 + j) == doctest::Approx(i == j ? second(points[i]) : 0.0).epsilon(1e-12));
  }
}

TEST_CASE("second order: hvp equals hessian·v on a function that mixes its inputs") {
  // f(x) = sum(tanh(W x)²) + (x·x)²: a dense Hessian.
  const z::Array w = random_f64({3, 5}, 11);
  auto f = [w](z::Tensor x) {
    z::Tensor y = z::tanh(z::matmul(z::constant(w), z::reshape(x, {5, 1})));
    return z::sum(y * y) + z::square(z::sum(x * x));
  };
  const z::Array x = random_f64({5}, 12), v = random_f64({5}, 13);
  const z::Array h = z::hessian(f)(x), hv = z::hvp(f)(x, v);
  for (int i = 0; i < 5; ++i) {
    double want = 0;
    for (int j = 0; j < 5; ++j) {
      want += h.at(i * 5 + j) * v.at(j);
      CHECK(h.at(i * 5 + j) == doctest::Approx(h.at(j * 5 + i)).epsilon(1e-12));  // symmetric
    }
    CHECK(hv.at(i) == doctest::Approx(want).epsilon(1e-10));
  }
  // One column by finite differences of the gradient.
  const double step = 1e-5;
  z::Array plus = x.clone(), minus = x.clone();
  plus.data<double>()[2] += step;
  minus.data<double>()[2] -= step;
  const z::Array gp = z::grad(f)(plus), gm = z::grad(f)(minus);
  for (int i = 0; i < 5; ++i) CHECK(h.at(i * 5 + 2) == doctest::Approx((gp.at(i) - gm.at(i)) / (2 * step)).epsilon(1e-6));
}
