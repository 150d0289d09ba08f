// The reference interpreter (z::interpret) as the oracle of the compiler: every primitive, the
// fusion paths and whole training steps, compiled on 1 and 2 threads, against the same graphs
// evaluated by the primitives' reference evaluations (matmul tiling remainders: lowering_test). The interpreter itself is
// checked against hand-written loops, and the verifier against graphs built wrongly on purpose.
#include <doctest/doctest.h>
#include <zephyr/custom_vjp.h>
#include <zephyr/zephyr.h>

#include <cmath>
#include <functional>
#include <set>

#include "reference.h"
#include "small_models.h"
#include "test_support.h"

namespace z = zephyr;
using z::testing::check_close;
using z::testing::random_array;
using z::testing::Ref;

namespace {

Ref as_ref(const z::Array& a) {
  Ref r{a.shape(), {}};
  for (int64_t i = 0; i < a.size(); ++i) r.values.push_back(a.at(i));
  return r;
}

z::compiler::Options on_threads(int threads) {
  z::compiler::Options o;
  o.threads = threads;
  return o;
}

// Every case takes the same three arguments: f32 values in (-1, 1), f32 values in (0.5, 2) (for
// log, sqrt, division and powers), and i32 bit patterns with both signs.
using Case = std::function<z::Tensor(z::Tensor x, z::Tensor p, z::Tensor bits)>;

struct OpCase {
  const char* name;
  Case f;
  double tolerance;  // relative: f32 rounding, or a polynomial approximation's error
};

const z::Array kX = random_array({4, 6, 5}, 1);
const z::Array kP = random_array({4, 6, 5}, 2, z::DType::f32, 0.5, 2.0);
const z::Array kBits = [] {
  z::Array a({4, 6, 5}, z::DType::i32);
  for (int64_t i = 0; i < a.size(); ++i) a.data<int32_t>()[i] = static_cast<int32_t>(0x9E3779B9u * (i + 1));
  return a;
}();

const z::Array kTable = random_array({6, 5}, 3);

const std::vector<OpCase>& op_cases() {
  static const std::vector<OpCase> cases = {
      {"constant (dense) and argument", [](z::Tensor x, z::Tensor, z::Tensor) { return x + z::constant(kTable); }, 0},
      {"constant (splat)", [](z::Tensor x, z::Tensor, z::Tensor) { return x * z::full({5}, 3.0); }, 0},
      {"iota", [](z::Tensor x, z::Tensor, z::Tensor) { return z::cast(z::iota({6, 5}, 0), z::DType::f32) + x; }, 0},
      {"neg", [](z::Tensor x, z::Tensor, z::Tensor) { return z::neg(x); }, 0},
      {"abs", [](z::Tensor x, z::Tensor, z::Tensor) { return z::abs(x); }, 0},
      {"exp", [](z::Tensor x, z::Tensor, z::Tensor) { return z::exp(x * 4.0); }, 2e-6},
      {"log", [](z::Tensor, z::Tensor p, z::Tensor) { return z::log(p); }, 2e-6},
      {"tanh", [](z::Tensor x, z::Tensor, z::Tensor) { return z::tanh(x * 3.0); }, 2e-6},
      {"sqrt", [](z::Tensor, z::Tensor p, z::Tensor) { return z::sqrt(p); }, 2e-6},
      {"rsqrt", [](z::Tensor, z::Tensor p, z::Tensor) { return z::rsqrt(p); }, 2e-6},
      {"sin", [](z::Tensor x, z::Tensor, z::Tensor) { return z::sin(x * 5.0); }, 2e-6},
      {"cos", [](z::Tensor x, z::Tensor, z::Tensor) { return z::cos(x * 5.0); }, 2e-6},
      // Broadcasting from a row and from a column.
      {"add", [](z::Tensor x, z::Tensor p, z::Tensor) { return x + z::slice(p, 0, 0, 1); }, 0},
      {"sub", [](z::Tensor x, z::Tensor p, z::Tensor) { return x - z::slice(p, -1, 2, 3); }, 0},
      {"mul", [](z::Tensor x, z::Tensor p, z::Tensor) { return x * p; }, 0},
      {"div", [](z::Tensor x, z::Tensor p, z::Tensor) { return x / p; }, 1e-7},
      {"pow", [](z::Tensor x, z::Tensor p, z::Tensor) { return z::pow(p, x * 3.0); }, 4e-6},
      {"maximum", [](z::Tensor x, z::Tensor p, z::Tensor) { return z::maximum(x, p - 1.0); }, 0},
      {"minimum", [](z::Tensor x, z::Tensor p, z::Tensor) { return z::minimum(x, p - 1.0); }, 0},
      {"bit_xor", [](z::Tensor, z::Tensor, z::Tensor b) { return z::bit_xor(b, z::reverse(b, {2})); }, 0},
      {"bit_or", [](z::Tensor, z::Tensor, z::Tensor b) { return z::bit_or(b, z::shift_left(b, 7)); }, 0},
      {"shift_left", [](z::Tensor, z::Tensor, z::Tensor b) { return z::shift_left(b, 13); }, 0},
      {"shift_right_logical", [](z::Tensor, z::Tensor, z::Tensor b) { return z::shift_right_logical(b, 9); }, 0},
      {"equal", [](z::Tensor x, z::Tensor, z::Tensor) { return z::equal(z::abs(x), x); }, 0},
      {"not_equal", [](z::Tensor x, z::Tensor, z::Tensor) { return z::not_equal(z::abs(x), x); }, 0},
      {"less", [](z::Tensor x, z::Tensor p, z::Tensor) { return z::less(x, p - 1.0); }, 0},
      {"less_equal", [](z::Tensor x, z::Tensor p, z::Tensor) { return z::less_equal(x, p - 1.0); }, 0},
      {"greater", [](z::Tensor x, z::Tensor p, z::Tensor) { return z::greater(x, p - 1.0); }, 0},
      {"greater_equal", [](z::Tensor x, z::Tensor p, z::Tensor) { return z::greater_equal(x, p - 1.0); }, 0},
      {"select", [](z::Tensor x, z::Tensor p, z::Tensor) { return z::where(z::greater(x, z::scalar(0.0)), x, p); }, 0},
      // Casts: float to int truncates toward zero, to bool tests for nonzero.
      {"stop_gradient", [](z::Tensor x, z::Tensor p, z::Tensor) { return z::stop_gradient(x) * p; }, 0},
      {"custom_vjp", [](z::Tensor x, z::Tensor p, z::Tensor) {  // the value is the function's
         auto twice = z::custom_vjp([](z::Tensor a) { return a * 2.0; }, [](z::Tensor a) { return std::pair{a * 2.0, a}; },
                                    [](const z::Tensor&, z::Tensor g) { return g; });
         return twice(x) + p;
       }, 0},
      {"after (in a checkpoint's gradient)", [](z::Tensor x, z::Tensor p, z::Tensor) {
         auto f = [](z::Tensor a, z::Tensor b) {
           return z::sum(z::checkpoint([](z::Tensor u, z::Tensor v) { return z::sin(u) * v; })(a, b));
         };
         return z::grad(f)(x, p);
       }, 1e-6},
      {"scan (outputs by vmap of the step)", [](z::Tensor x, z::Tensor p, z::Tensor) {
         auto [last, ys] = z::scan([&](z::Tensor c, z::Tensor row) {
           z::Tensor next = z::tanh(c * z::slice(p, 0, 0, 1) + row);
           return std::pair{next, next * c};
         }, z::slice(x, 0, 0, 1) * 0.0, x, {.reverse = true});
         return ys + last;
       }, 1e-6},
      {"while", [](z::Tensor x, z::Tensor p, z::Tensor) {
         return z::while_loop([](z::Tensor c) { return z::less(z::sum(c * c), z::scalar(1000.0)); },
                              [&](z::Tensor c) { return c * 1.5 + p; }, x);
       }, 1e-6},
      {"cond", [](z::Tensor x, z::Tensor p, z::Tensor) {
         return z::cond(z::greater(z::sum(x), z::scalar(0.0)), [&] { return x * 2.0; }, [&] { return z::sin(p); }) +
                z::cond(z::less(z::sum(x), z::scalar(0.0)), [](z::Tensor a) { return a * 2.0; }, [](z::Tensor a) { return z::sin(a); }, p);
       }, 1e-6},
      {"cast f32 -> i32", [](z::Tensor x, z::Tensor, z::Tensor) { return z::cast(x * 37.0, z::DType::i32); }, 0},
      {"cast i32 -> f32", [](z::Tensor, z::Tensor, z::Tensor b) { return z::cast(b, z::DType::f32); }, 0},
      {"cast i32 -> bool", [](z::Tensor, z::Tensor, z::Tensor b) { return z::cast(z::shift_right_logical(b, 30), z::DType::bool_); }, 0},
      {"cast bool -> f32", [](z::Tensor x, z::Tensor, z::Tensor) { return z::cast(z::greater(x, z::scalar(0.2)), z::DType::f32); }, 0},
      {"cast f32 -> f64", [](z::Tensor x, z::Tensor, z::Tensor) { return z::cast(x, z::DType::f64) * 3.0; }, 0},
      {"reduce_sum (inner)", [](z::Tensor x, z::Tensor, z::Tensor) { return z::sum(x, {-1}); }, 1e-6},
      {"reduce_sum (outer two)", [](z::Tensor x, z::Tensor, z::Tensor) { return z::sum(x, {0, 1}); }, 1e-6},
      {"reduce_sum (all)", [](z::Tensor x, z::Tensor, z::Tensor) { return z::sum(x); }, 1e-6},
      {"reduce_max (middle)", [](z::Tensor x, z::Tensor, z::Tensor) { return z::max(x, {1}); }, 0},
      {"reduce_max (all)", [](z::Tensor x, z::Tensor, z::Tensor) { return z::max(x); }, 0},
      {"matmul", [](z::Tensor x, z::Tensor p, z::Tensor) { return z::matmul(z::reshape(x, {24, 5}), z::reshape(p, {5, 24})); }, 1e-6},
      {"matmul (batched)", [](z::Tensor x, z::Tensor p, z::Tensor) { return z::matmul(x, z::transpose(p, {0, 2, 1})); }, 1e-6},
      {"reshape", [](z::Tensor x, z::Tensor, z::Tensor) { return z::reshape(x, {5, 24}) * 2.0; }, 0},
      {"transpose", [](z::Tensor x, z::Tensor, z::Tensor) { return z::transpose(x, {2, 0, 1}) + 1.0; }, 0},
      {"broadcast_to", [](z::Tensor x, z::Tensor, z::Tensor) { return z::broadcast_to(z::sum(x, {1}, true), {4, 6, 5}) + x; }, 1e-6},
      {"slice (strided)", [](z::Tensor x, z::Tensor, z::Tensor) { return z::strided_slice(x, {1, 0, 1}, {2, 3, 2}, {2, 2, 3}); }, 0},
      {"concat", [](z::Tensor x, z::Tensor p, z::Tensor) { return z::concat({x, p, x * 2.0}, 1); }, 0},
      // 120 = 7 vectors of 16 and a remainder of 8, written into a slice of the concat: the
      // shape of write passes.cpp's PartialWriteIntoSlice guards (lit: tile-and-vectorize.mlir).
      {"concat (a computed part with a vector remainder)", [](z::Tensor x, z::Tensor p, z::Tensor) {
         z::Tensor row = z::sum(z::reshape(x, {1, 120, 1}), {2});  // [1, 120], computed
         return z::concat({z::exp(row), z::slice(z::reshape(p, {1, -1}), 1, 0, 120)}, 0);
       }, 1e-6},
      {"pad", [](z::Tensor x, z::Tensor, z::Tensor) { return z::pad(x, {1, 0, 2}, {0, 3, 1}, {1, 0, 2}, -2.5); }, 0},
      {"reverse", [](z::Tensor x, z::Tensor, z::Tensor) { return z::reverse(x, {0, 2}) - x; }, 0},
      {"gather", [](z::Tensor x, z::Tensor, z::Tensor b) {
         z::Tensor ids = z::cast(z::shift_right_logical(z::slice(b, 0, 0, 1), 30), z::DType::i32);  // 0..3
         return z::take(x, z::reshape(ids, {-1}));
       }, 0},
      {"scatter_add", [](z::Tensor x, z::Tensor, z::Tensor b) {
         z::Tensor ids = z::reshape(z::shift_right_logical(z::slice(b, 0, 0, 1), 30), {-1});  // repeats
         return z::scatter_add(ids, z::reshape(z::slice(x, 0, 0, 1), {30}) , 4);
       }, 1e-6},
  };
  return cases;
}

std::set<z::OpKind> kinds_in(const z::Function& fn) {
  std::set<z::OpKind> kinds;
  for (const z::Node* n : z::topological_order(fn.results)) kinds.insert(n->op);
  return kinds;
}

}  // namespace

TEST_CASE("interpreter: every primitive compiled on 1 and 2 threads agrees with the interpreter") {
  std::set<z::OpKind> covered;
  for (const OpCase& c : op_cases()) {
    INFO(std::string(c.name));
    const z::Array want = z::interpret(c.f)(kX, kP, kBits);
    REQUIRE(want.dtype() == z::make_function(c.f, kX, kP, kBits).results[0]->dtype);
    for (int threads : {1, 2}) {
      const z::Array got = z::jit(c.f, on_threads(threads))(kX, kP, kBits);
      REQUIRE(got.dtype() == want.dtype());
      check_close(got, as_ref(want), c.tolerance, std::string(c.name) + ", " + std::to_string(threads) + " threads");
    }
    for (z::OpKind k : kinds_in(z::make_function(c.f, kX, kP, kBits))) covered.insert(k);
  }
  // A new line in op_kinds.def needs a case here.
#define ZEPHYR_OP(kind, mnemonic) CHECK_MESSAGE(covered.count(z::OpKind::kind), "no case exercises " mnemonic);
#include <zephyr/op_kinds.def>
#undef ZEPHYR_OP
}

TEST_CASE("interpreter: agrees with hand-written loops") {
  SUBCASE("matmul, reductions and broadcasting") {
    auto f = [](z::Tensor a, z::Tensor b) { return std::tuple{z::matmul(a, b), z::max(a, {0}), a - z::sum(a, {1}, true)}; };
    const z::Array a = random_array({7, 9}, 4), b = random_array({9, 3}, 5);
    auto [product, column_max, centred] = z::interpret(f)(a, b);
    Ref want_product{{7, 3}, std::vector<double>(21, 0.0)}, want_max{{9}, std::vector<double>(9, -1e300)};
    Ref want_centred{{7, 9}, {}};
    for (int i = 0; i < 7; ++i) {
      double row = 0;
      for (int p = 0; p < 9; ++p) row += a.at(i * 9 + p);
      for (int p = 0; p < 9; ++p) {
        want_centred.values.push_back(a.at(i * 9 + p) - static_cast<float>(row));
        want_max.values[p] = std::max(want_max.values[p], a.at(i * 9 + p));
        for (int j = 0; j < 3; ++j) want_product.values[i * 3 + j] += a.at(i * 9 + p) * b.at(p * 3 + j);
      }
    }
    check_close(product, want_product, 1e-6, "matmul");
    check_close(column_max, want_max, 0, "reduce_max");
    check_close(centred, want_centred, 1e-6, "a - sum(a, keepdims)");
  }
  SUBCASE("gather and scatter_add with repeated ids") {
    auto f = [](z::Tensor table, z::Tensor ids, z::Tensor updates) {
      return std::tuple{z::take(table, ids), z::scatter_add(ids, updates, 4)};
    };
    const z::Array table = random_array({4, 3}, 6), updates = random_array({5, 3}, 7);
    const std::vector<int32_t> ids{3, 0, 3, 1, 3};
    auto [gathered, scattered] = z::interpret(f)(table, z::Array::from<int32_t>({5}, ids), updates);
    Ref want_gathered{{5, 3}, {}}, want_scattered{{4, 3}, std::vector<double>(12, 0.0)};
    for (int r = 0; r < 5; ++r)
      for (int c = 0; c < 3; ++c) {
        want_gathered.values.push_back(table.at(ids[r] * 3 + c));
        want_scattered.values[ids[r] * 3 + c] += updates.at(r * 3 + c);
      }
    check_close(gathered, want_gathered, 0, "gather");
    check_close(scattered, want_scattered, 1e-6, "scatter_add");
  }
  SUBCASE("a strided, grouped, dilated convolution (slices, pads and matmuls)") {
    const z::ConvSpec spec{.strides = {2, 1}, .padding = {{1, 2}, {0, 1}}, .rhs_dilation = {1, 2}, .groups = 2};
    const z::Array x = random_array({2, 7, 6, 4}, 8), w = random_array({3, 2, 2, 6}, 9);
    const z::Array got = z::interpret([&](z::Tensor a, z::Tensor b) { return z::conv(a, b, spec); })(x, w);
    std::vector<double> wv;
    for (int64_t i = 0; i < w.size(); ++i) wv.push_back(w.at(i));
    check_close(got, z::testing::reference_conv(x, wv, w.shape(), spec), 1e-5, "conv");
  }
  SUBCASE("i32 wraps as two's complement and casts truncate toward zero") {
    auto f = [](z::Tensor i, z::Tensor x) { return std::tuple{i * i + i, z::cast(x, z::DType::i32)}; };
    const std::vector<int32_t> ints{2147483647, -2147483647 - 1, 65536, -3};
    const std::vector<float> floats{2.9f, -2.9f, 0.5f, -0.5f};
    auto [wrapped, truncated] = z::interpret(f)(z::Array::from<int32_t>({4}, ints), z::Array::from<float>({4}, floats));
    for (int k = 0; k < 4; ++k) {
      const uint32_t u = static_cast<uint32_t>(ints[k]);
      CHECK(wrapped.data<int32_t>()[k] == static_cast<int32_t>(u * u + u));
    }
    CHECK(truncated.data<int32_t>()[0] == 2);
    CHECK(truncated.data<int32_t>()[1] == -2);
    CHECK(truncated.data<int32_t>()[2] == 0);
    CHECK(truncated.data<int32_t>()[3] == 0);
  }
}

TEST_CASE("interpreter: with f64 = true, float values keep f64 between ops") {
  // 1 + 2^-30 - 1 is 0 in f32 but 2^-30 in f64; the f32 result of the f64 computation keeps it.
  auto f = [](z::Tensor x) { return (x + std::ldexp(1.0, -30)) - x; };
  const z::Array one = z::Array::from<float>({1}, {1.0f});
  CHECK(z::interpret(f)(one).at(0) == 0.0);
  CHECK(z::interpret(f, {.f64 = true})(one).at(0) == std::ldexp(1.0, -30));
  CHECK(z::jit(f)(one).at(0) == 0.0);  // the compiler rounds per op, as the default interpreter
}

TEST_CASE("interpreter: fused elementwise, reduction and product nests split over threads agree") {
  // Nests large enough (>= 2^16 elements) to be split over threads, with odd extents.
  auto head = [](z::Tensor x, z::Tensor w, z::Tensor bias) {
    z::Tensor h = z::gelu(z::matmul(x, w) + bias);
    return std::tuple{z::softmax(h, -1), (h - z::mean(h, {-1}, true)) * z::rsqrt(z::var(h, {-1}, true) + 1e-5)};
  };
  const z::Array x = random_array({301, 67}, 13), w = random_array({67, 259}, 14), bias = random_array({259}, 15);
  auto [soft, norm] = z::interpret(head)(x, w, bias);
  for (int threads : {1, 2}) {
    auto [soft2, norm2] = z::jit(head, on_threads(threads))(x, w, bias);
    check_close(soft2, as_ref(soft), 1e-5, "softmax, " + std::to_string(threads) + " threads");
    check_close(norm2, as_ref(norm), 1e-4, "layer norm, " + std::to_string(threads) + " threads");
  }
}

namespace {

// Compares a step's every result with the interpreter's: the loss, then each leaf of each tree.
void check_step(const z::Array& loss, const z::Array& want_loss, const std::vector<const z::ParamTree*>& got,
                const std::vector<const z::ParamTree*>& want, double tol, const std::string& what) {
  CHECK_MESSAGE(loss.at(0) == doctest::Approx(want_loss.at(0)).epsilon(1e-5), what << ": loss");
  for (size_t t = 0; t < got.size(); ++t)
    for (const auto& [path, array] : *want[t]) check_close(got[t]->at(path), as_ref(array), tol, what + ": " + path);
}

template <class Step, class... Args>
void check_training_step(const Step& step, const std::string& what, const z::ParamTree& params,
                         const z::ParamTree& state, const Args&... data) {
  auto [want_params, want_state, want_loss] = z::interpret(step)(params, state, data...);
  for (int threads : {1, 2}) {
    auto [new_params, new_state, loss] = z::jit(step, on_threads(threads))(params, state, data...);
    check_step(loss, want_loss, {&new_params, &new_state}, {&want_params, &want_state}, 1e-4,
               what + ", " + std::to_string(threads) + " threads");
  }
}

template <class Loss>
auto train_step(Loss loss, z::optim::Optimizer optimizer) {
  return [loss, optimizer](z::Params p, z::OptState s, auto... data) {
    auto [value, grads] = z::value_and_grad(loss)(p, data...);
    auto [q, s2] = optimizer.update(grads, s, p);
    return std::tuple{q, s2, value};
  };
}

z::Array labels_for(int64_t n) {
  std::vector<int32_t> labels(n);
  for (int64_t i = 0; i < n; ++i) labels[i] = static_cast<int32_t>((i * 7) % 10);
  return z::Array::from<int32_t>({n}, labels);
}

}  // namespace

TEST_CASE("interpreter: whole training steps agree with the compiled ones") {
  // A large eps keeps Adam's first step g / (|g| + eps) well conditioned: with the default 1e-8,
  // a gradient near zero turns rounding-level differences into differences of the whole step.
  const z::optim::Optimizer adam = z::optim::adam(1e-2, 0.9, 0.999, 1e-3);
  SUBCASE("MLP, Adam") {
    auto loss = [](z::Params p, z::Tensor x, z::Tensor y) {
      return z::losses::softmax_cross_entropy(z::nets::mlp(p, x, {300, 130, 10}), y);
    };
    const z::Array x = random_array({70, 250}, 16), y = labels_for(70);
    const z::ParamTree params = z::trace(loss, z::random::key(9), x, y);
    check_training_step(train_step(loss, adam), "MLP", params, adam.init(params), x, y);
  }
  SUBCASE("CNN, SGD with momentum") {
    const z::optim::Optimizer sgd = z::optim::sgd(0.1, 0.9);
    const z::Array x = random_array({4, 10, 10, 1}, 17), y = labels_for(4);
    const z::ParamTree params = z::trace(z::testing::small_cnn_loss, z::random::key(1), x, y);
    check_training_step(train_step(z::testing::small_cnn_loss, sgd), "CNN", params, sgd.init(params), x, y);
  }
  SUBCASE("two-block causal transformer LM, Adam") {
    const z::Array tokens = z::testing::lm_tokens(2, 16);
    auto loss = [](z::Params p, z::Tensor t) { return z::testing::lm_loss(p, t, 2); };
    const z::ParamTree params = z::trace(loss, z::random::key(0), tokens);
    check_training_step(train_step(loss, adam), "LM", params, adam.init(params), tokens);
  }
  // The other optimizers, schedules and losses the training tests use.
  SUBCASE("MLP, AdamW under global-norm clipping with a warmed-up cosine schedule") {
    const z::optim::Optimizer opt =
        z::optim::clip_by_global_norm(1.0, z::optim::adamw(z::optim::warmup(3, z::optim::cosine(1e-2, 50)), 1e-2));
    auto loss = [](z::Params p, z::Tensor x, z::Tensor y) {
      return z::losses::softmax_cross_entropy(z::nets::mlp(p, x, {64, 10}), y);
    };
    const z::Array x = random_array({16, 40}, 19), y = labels_for(16);
    const z::ParamTree params = z::trace(loss, z::random::key(5), x, y);
    check_training_step(train_step(loss, opt), "AdamW", params, opt.init(params), x, y);
  }
  SUBCASE("autoencoder, Nesterov SGD on binary cross-entropy") {
    const z::optim::Optimizer opt = z::optim::sgd(0.05, 0.9, true);
    auto loss = [](z::Params p, z::Tensor x) {
      z::Tensor code = z::tanh(z::nets::linear(p["encode"], x, 8));
      return z::losses::binary_cross_entropy(z::nets::linear(p["decode"], code, 40), z::cast(x > 0.0, z::DType::f32));
    };
    const z::Array x = random_array({16, 40}, 20);
    const z::ParamTree params = z::trace(loss, z::random::key(6), x);
    check_training_step(train_step(loss, opt), "autoencoder", params, opt.init(params), x);
  }
}

TEST_CASE("interpreter: run-time checks raise the compiled code's errors") {
  auto loss = [](z::Tensor logits, z::Tensor labels) { return z::losses::softmax_cross_entropy(logits, labels); };
  const z::Array logits = random_array({3, 4}, 18);
  const z::Array bad = z::Array::from<int32_t>({3}, {0, 4, 1});
  const std::string compiled = z::testing::error_of([&] { z::jit(loss)(logits, bad); });
  REQUIRE(!compiled.empty());
  CHECK(z::testing::error_of([&] { z::interpret(loss)(logits, bad); }) == compiled);
}

TEST_CASE("verifier: a graph built around the ops' rules is refused before lowering, naming the op and line") {
  const z::SourceLoc here{"model.cpp", 42, 7};
  z::Attrs named;
  named.name = "x";
  const z::NodePtr x = z::make_node(z::OpKind::Argument, z::DType::f32, {3}, {}, named, here);
  named.name = "y";
  const z::NodePtr y = z::make_node(z::OpKind::Argument, z::DType::f32, {4}, {}, named, here);
  auto function_of = [&](z::NodePtr result) { return z::Function{"bad", {x, y}, {std::move(result)}, {""}}; };
  const std::vector<z::Array> args{z::Array::zeros({3}, z::DType::f32), z::Array::zeros({4}, z::DType::f32)};

  SUBCASE("shapes that do not broadcast") {
    const z::Function fn = function_of(z::make_node(z::OpKind::Add, z::DType::f32, {4}, {x, y}, {}, here));
    CHECK_ERROR(z::verify(fn), "add", "model.cpp:42", "f32[3]", "f32[4]");
    CHECK_ERROR(z::interpret(fn, args), "add", "model.cpp:42");
    CHECK_ERROR(z::compiler::compile(fn), "add", "model.cpp:42");
  }
  SUBCASE("a result type other than the rule's") {
    const z::Function fn = function_of(z::make_node(z::OpKind::Exp, z::DType::f64, {3}, {x}, {}, here));
    CHECK_ERROR(z::verify(fn), "exp", "model.cpp:42", "[verify]", "f32[3]", "f64[3]");
  }
  SUBCASE("the wrong number of operands") {
    const z::Function fn = function_of(z::make_node(z::OpKind::Neg, z::DType::f32, {3}, {x, x}, {}, here));
    CHECK_ERROR(z::verify(fn), "neg", "model.cpp:42");
  }
  SUBCASE("an attribute the op does not have") {
    z::Attrs axes;
    axes.axes = {0};
    const z::Function fn = function_of(z::make_node(z::OpKind::Neg, z::DType::f32, {3}, {x}, axes, here));
    CHECK_ERROR(z::verify(fn), "neg", "model.cpp:42", "'axes'");
  }
  SUBCASE("an axis out of range") {
    z::Attrs axes;
    axes.axes = {3};
    const z::Function fn = function_of(z::make_node(z::OpKind::ReduceSum, z::DType::f32, {}, {x}, axes, here));
    CHECK_ERROR(z::verify(fn), "reduce_sum", "model.cpp:42");
  }
}
