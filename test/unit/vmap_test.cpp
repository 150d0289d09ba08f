// z::vmap: every primitive's batching rule against a loop over the examples (each input batched
// or shared, in every combination), per-example gradients against a loop of single-example
// gradients, axes, nesting, run-time checks and the errors.
#include <doctest/doctest.h>
#include <zephyr/custom_vjp.h>
#include <zephyr/vmap.h>
#include <zephyr/zephyr.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <set>

#include "reference.h"
#include "small_models.h"
#include "test_support.h"

namespace z = zephyr;
using z::testing::contains;
using z::testing::random_array;

namespace {

constexpr int64_t kBatch = 3;

// Example b of a batch (its leading axis).
z::Array example(const z::Array& batch, int64_t b) {
  const z::Shape shape(batch.shape().begin() + 1, batch.shape().end());
  z::Array out(shape, batch.dtype());
  const size_t bytes = static_cast<size_t>(out.size()) * z::itemsize(batch.dtype());
  std::memcpy(out.raw(), static_cast<const char*>(batch.raw()) + b * bytes, bytes);
  return out;
}

// The examples stacked along a new leading axis.
z::Array stack(const std::vector<z::Array>& examples) {
  z::Shape shape{static_cast<int64_t>(examples.size())};
  shape.insert(shape.end(), examples[0].shape().begin(), examples[0].shape().end());
  z::Array out(shape, examples[0].dtype());
  const size_t bytes = static_cast<size_t>(examples[0].size()) * z::itemsize(out.dtype());
  for (size_t b = 0; b < examples.size(); ++b)
    std::memcpy(static_cast<char*>(out.raw()) + b * bytes, examples[b].raw(), bytes);
  return out;
}

void check_equal(const z::Array& got, const z::Array& want, double tolerance, const std::string& what) {
  REQUIRE_MESSAGE(got.shape() == want.shape(), what << ": " << z::to_string(got.shape()) << " vs " << z::to_string(want.shape()));
  REQUIRE_MESSAGE(got.dtype() == want.dtype(), what);
  for (int64_t i = 0; i < got.size(); ++i)
    REQUIRE_MESSAGE(std::abs(got.at(i) - want.at(i)) <= tolerance * (1 + std::abs(want.at(i))),
                    what << ": element " << i << " is " << got.at(i) << ", a loop gives " << want.at(i));
}

// Per example: x, f32 (3, 4) in (-1, 1); p, f32 (3, 4) in (0.5, 2); bits, i32 (3, 4) with both signs.
using Case = std::function<z::Tensor(z::Tensor x, z::Tensor p, z::Tensor bits)>;
struct BatchCase {
  const char* name;
  Case f;
};

z::Tensor small_ids(const z::Tensor& bits) {  // 0..3 per element: one past the 3 rows, which clamps
  return z::shift_right_logical(bits, 30);
}

const std::vector<BatchCase>& cases() {
  using T = z::Tensor;
  static const std::vector<BatchCase> all = {
      {"neg, exp, log", [](T x, T p, T) { return z::exp(z::neg(x)) + z::log(p); }},
      {"abs, tanh, sqrt, rsqrt", [](T x, T p, T) { return z::abs(z::tanh(x)) * z::sqrt(p) - z::rsqrt(p); }},
      {"sin, cos", [](T x, T, T) { return z::sin(x) * z::cos(x); }},
      // Operands of different ranks: a per-example scalar against a matrix, a row against it.
      {"add (scalar and row)", [](T x, T p, T) { return z::sum(x) + p + z::slice(x, 0, 0, 1); }},
      {"sub, mul, div", [](T x, T p, T) { return (x - p) * x / p; }},
      {"pow, maximum, minimum", [](T x, T p, T) { return z::pow(p, x) + z::maximum(x, p - 1.0) * z::minimum(x, p - 1.0); }},
      {"bitwise", [](T, T, T b) { return z::bit_or(z::bit_xor(b, z::shift_left(b, 3)), z::shift_right_logical(b, 7)); }},
      {"comparisons and select", [](T x, T p, T) {
         T flipped = z::not_equal(z::less(x, p - 1.0), z::less_equal(x, p - 1.5));
         T rest = z::where(z::greater(x, z::scalar(0.3)), x * 2.0, z::where(z::greater_equal(x, p), p, -p));
         return z::where(z::equal(x, p), p, z::where(flipped, x, rest));
       }},
      {"cast, stop_gradient", [](T x, T, T b) {
         return z::cast(z::cast(x * 9.0, z::DType::i32) + b, z::DType::f32) + z::stop_gradient(x);
       }},
      {"reduce_sum, reduce_max", [](T x, T p, T) { return z::sum(x * p, {1}, true) - z::max(x, {0}); }},
      {"matmul (2d)", [](T x, T p, T) { return z::matmul(x, z::transpose(p)); }},
      {"matmul (3d)", [](T x, T p, T) {
         return z::matmul(z::reshape(x, {3, 1, 4}), z::reshape(p, {3, 4, 1}));
       }},
      {"reshape, transpose", [](T x, T, T) { return z::transpose(z::reshape(x, {2, 6})); }},
      {"broadcast_to (new axis)", [](T x, T, T) { return z::broadcast_to(z::sum(x, {0}, true), {2, 3, 4}); }},
      {"slice (strided)", [](T x, T, T) { return z::strided_slice(x, {0, 1}, {2, 2}, {2, 2}); }},
      {"concat", [](T x, T p, T) { return z::concat({x, p, x}, 1); }},
      {"pad", [](T x, T, T) { return z::pad(x, {1, 0}, {0, 2}, {1, 1}, 3.0); }},
      {"reverse", [](T x, T, T) { return z::reverse(x, {1}); }},
      {"gather (ids clamp within the example)", [](T x, T, T b) { return z::take(x, small_ids(b)); }},
      {"scatter_add", [](T x, T, T b) { return z::scatter_add(small_ids(b), x * 2.0, 4); }},
      {"custom_vjp", [](T x, T p, T) {
         auto scaled = z::custom_vjp([](T a, T b) { return a * b; }, [](T a, T b) { return std::pair{a * b, std::tuple{a, b}}; },
                                     [](const std::tuple<T, T>& ab, T g) {
                                       return std::tuple{g * std::get<1>(ab), g * std::get<0>(ab)};
                                     });
         return scaled(x, p);
       }},
      {"after (in a checkpoint's gradient)", [](T x, T p, T) {
         auto f = [](T a, T b) { return z::sum(z::checkpoint([](T u, T v) { return z::sin(u) * v; })(a, b)); };
         return z::grad(f)(x, p);
       }},
      {"scan", [](T x, T p, T) {
         auto [last, ys] = z::scan([&](T c, T row) {
           T next = z::tanh(c * z::slice(p, 0, 0, 1) + row);
           return std::pair{next, next * c};
         }, z::slice(p, 0, 1, 2), x);
         return ys + last;
       }},
      {"while (a trip count per example)", [](T x, T p, T) {
         return z::while_loop([](T c) { return z::less(z::sum(c * c), z::scalar(50.0)); },
                              [&](T c) { return c * 1.3 + p * 0.5; }, x);
       }},
      {"cond (a predicate per example, or one for all)", [](T x, T p, T) {
         return z::cond(z::greater(z::sum(x), z::scalar(0.0)), [&] { return x * p; }, [&] { return z::sin(x) - p; });
       }},
      {"constants, iota", [](T x, T, T) {
         return x * z::full({4}, 3.0) + z::cast(z::iota({3, 4}, 1), z::DType::f32) + z::constant(random_array({3, 4}, 9));
       }},
  };
  return all;
}

const z::Array kX = random_array({kBatch, 3, 4}, 1);
const z::Array kP = random_array({kBatch, 3, 4}, 2, z::DType::f32, 0.5, 2.0);
const z::Array kBits = [] {
  z::Array a({kBatch, 3, 4}, z::DType::i32);
  for (int64_t i = 0; i < a.size(); ++i) a.data<int32_t>()[i] = static_cast<int32_t>(0x9E3779B9u * (i + 1));
  return a;
}();

}  // namespace

TEST_CASE("vmap: every primitive's batching rule agrees with a loop over the examples") {
  std::set<z::OpKind> covered;
  const z::Array* batches[] = {&kX, &kP, &kBits};
  for (const BatchCase& c : cases()) {
    // Every combination of batched and shared inputs (a shared input is example 1 for all).
    for (unsigned mask = 1; mask < 8; ++mask) {
      const std::string what = fmt::format("{}, batched inputs {:03b}", c.name, mask);
      INFO(what);
      std::vector<z::BatchAxis> axes;
      std::vector<z::Array> args;
      for (int i = 0; i < 3; ++i) {
        const bool batched = mask & (1u << i);
        axes.push_back(batched ? z::BatchAxis{0} : z::unbatched);
        args.push_back(batched ? *batches[i] : example(*batches[i], 1));
      }
      const z::Array got = z::interpret(z::vmap(c.f, axes))(args[0], args[1], args[2]);
      std::vector<z::Array> loop;
      for (int64_t b = 0; b < kBatch; ++b) {
        auto one = [&](int i) { return (mask & (1u << i)) ? example(args[i], b) : args[i]; };
        loop.push_back(z::interpret(c.f)(one(0), one(1), one(2)));
      }
      check_equal(got, stack(loop), 1e-6, what);
    }
    const z::Function traced = z::make_function(c.f, example(kX, 0), example(kP, 0), example(kBits, 0));
    for (const z::Node* n : z::topological_order(traced.results)) covered.insert(n->op);
  }
  // A new line in op_kinds.def needs a case here (leaves have no inputs to batch).
#define ZEPHYR_OP(kind, mnemonic)                                                        \
  if (z::OpKind::kind != z::OpKind::Argument) CHECK_MESSAGE(covered.count(z::OpKind::kind), \
                                                            "no case batches " mnemonic);
#include <zephyr/op_kinds.def>
#undef ZEPHYR_OP
}

TEST_CASE("vmap: compiled batches equal the interpreter's") {
  for (const BatchCase& c : cases()) {
    INFO(std::string(c.name));
    const z::Array want = z::interpret(z::vmap(c.f))(kX, kP, kBits);
    check_equal(z::jit(z::vmap(c.f))(kX, kP, kBits), want, 2e-6, c.name);
  }
}

namespace {

// One example's loss: a 2-layer MLP on 6 features, softmax cross-entropy against one label.
z::Tensor example_loss(z::Params p, z::Tensor x, z::Tensor label) {
  z::Tensor logits = z::nets::mlp(p, z::reshape(x, {1, 6}), {5, 3});
  return z::losses::softmax_cross_entropy(logits, z::reshape(label, {1}));
}

}  // namespace

TEST_CASE("vmap: per-example gradients equal a loop of single-example gradients") {
  const z::Array x = random_array({4, 6}, 11);
  const z::Array labels = z::Array::from<int32_t>({4}, {2, 0, 1, 2});
  const z::ParamTree params = z::trace(example_loss, z::random::key(3), example(x, 0), example(labels, 0));
  auto per_example = z::vmap(z::grad(example_loss), {z::unbatched, 0, 0});
  const z::ParamTree grads = per_example(params, x, labels);
  REQUIRE(grads.size() == params.size());
  auto single = z::grad(example_loss);
  std::vector<z::ParamTree> loop;
  for (int64_t b = 0; b < 4; ++b) loop.push_back(single(params, example(x, b), example(labels, b)));
  for (size_t leaf = 0; leaf < grads.size(); ++leaf) {
    const auto& [path, g] = grads.leaves()[leaf];
    std::vector<z::Array> rows;
    for (const z::ParamTree& t : loop) rows.push_back(t.leaves()[leaf].second);
    check_equal(g, stack(rows), 1e-5, path);
  }
  // The examples' gradients average to the batch loss's gradient.
  auto batch_loss = [](z::Params p, z::Tensor xs, z::Tensor ys) {
    return z::losses::softmax_cross_entropy(z::nets::mlp(p, xs, {5, 3}), ys);
  };
  const z::ParamTree mean = z::grad(batch_loss)(params, x, labels);
  for (size_t leaf = 0; leaf < grads.size(); ++leaf) {
    const z::Array& g = grads.leaves()[leaf].second;
    const z::Array& m = mean.leaves()[leaf].second;
    for (int64_t i = 0; i < m.size(); ++i) {
      double s = 0;
      for (int64_t b = 0; b < 4; ++b) s += g.at(b * m.size() + i);
      CHECK(s / 4 == doctest::Approx(m.at(i)).epsilon(1e-5));
    }
  }
}

TEST_CASE("vmap: in_axes and out_axis move the batch, and vmaps nest") {
  auto f = [](z::Tensor a, z::Tensor b) { return z::sum(a * b, {0}); };
  const z::Array a = random_array({4, kBatch}, 5), b = random_array({4}, 6);
  // Examples along axis 1 of `a`, b shared; results stacked on axis 0, then on axis 1.
  const z::Array rows = z::interpret(z::vmap(f, {1, z::unbatched}))(a, b);
  REQUIRE(rows.shape() == z::Shape{kBatch});
  for (int64_t e = 0; e < kBatch; ++e) {
    double s = 0;
    for (int64_t i = 0; i < 4; ++i) s += a.at(i * kBatch + e) * b.at(i);
    CHECK(rows.at(e) == doctest::Approx(s).epsilon(1e-6));
  }
  auto outer = [](z::Tensor u, z::Tensor v) { return z::reshape(u, {2, 2}) * z::slice(v, 0, 0, 2); };
  const z::Array columns = z::interpret(z::vmap(outer, {1, z::unbatched}, 1))(a, b);
  REQUIRE(columns.shape() == z::Shape{2, kBatch, 2});
  for (int64_t e = 0; e < kBatch; ++e)
    for (int64_t i = 0; i < 4; ++i)
      CHECK(columns.at((i / 2) * kBatch * 2 + e * 2 + i % 2) == doctest::Approx(a.at(i * kBatch + e) * b.at(i % 2)));

  // Pairwise squared distances: an inner vmap over the second set inside an outer over the first.
  auto distance = [](z::Tensor u, z::Tensor v) { return z::sum(z::square(u - v)); };
  auto pairwise = z::vmap(z::vmap(distance, {z::unbatched, 0}), {0, z::unbatched});
  const z::Array us = random_array({3, 5}, 7), vs = random_array({4, 5}, 8);
  const z::Array d = z::jit(pairwise)(us, vs);
  REQUIRE(d.shape() == z::Shape{3, 4});
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 4; ++j) {
      double s = 0;
      for (int64_t k = 0; k < 5; ++k) s += (us.at(i * 5 + k) - vs.at(j * 5 + k)) * (us.at(i * 5 + k) - vs.at(j * 5 + k));
      CHECK(d.at(i * 4 + j) == doctest::Approx(s).epsilon(1e-5));
    }
}

TEST_CASE("vmap: a run-time check inside the function covers every example") {
  const z::Array x = random_array({4, 6}, 11);
  const z::ParamTree params = z::trace(example_loss, z::random::key(3), example(x, 0), z::Array::from<int32_t>({}, {0}));
  auto losses = z::vmap(example_loss, {z::unbatched, 0, 0});
  CHECK(z::jit(losses)(params, x, z::Array::from<int32_t>({4}, {0, 1, 2, 1})).shape() == z::Shape{4});
  try {
    z::jit(losses)(params, x, z::Array::from<int32_t>({4}, {0, 1, 7, 1}));
    FAIL("a label out of range in one example must fail the call");
  } catch (const z::Error& e) {
    CHECK_MESSAGE(contains(e.what(), "labels outside [0, 3)"), e.what());
    CHECK_MESSAGE(contains(e.what(), "(1 of 4 elements)"), e.what());
  }
}

TEST_CASE("vmap: mistakes are errors naming vmap, the argument and the user's line") {
  auto f = [](z::Tensor a, z::Tensor b) { return a + b; };
  auto message = [](auto call) { return z::testing::error_of(call); };
  const z::Array a = random_array({3, 2}, 1), b = random_array({4, 2}, 2);
  const std::string sizes = message([&] { z::interpret(z::vmap(f))(a, b); });
  CHECK_MESSAGE(contains(sizes, "vmap_test.cpp"), sizes);
  CHECK_MESSAGE(contains(sizes, "argument 1 has 4 examples"), sizes);
  CHECK_MESSAGE(contains(sizes, "mapped before it have 3"), sizes);
  const std::string axis = message([&] { z::interpret(z::vmap(f, {2, 0}))(a, a); });
  CHECK_MESSAGE(contains(axis, "argument 0 is f32[3, 2]: it has no axis 2"), axis);
  const std::string count = message([&] { z::interpret(z::vmap(f, {0}))(a, a); });
  CHECK_MESSAGE(contains(count, "in_axes has 1 entries for 2 arguments"), count);
  const std::string none = message([&] { z::interpret(z::vmap(f, {z::unbatched, z::unbatched}))(a, a); });
  CHECK_MESSAGE(contains(none, "no argument is batched"), none);
  const z::Array x = random_array({4, 6}, 11);
  const z::ParamTree params = z::trace(example_loss, z::random::key(3), example(x, 0), z::Array::from<int32_t>({}, {0}));
  // Params mapped over axis 0 with x: the first weight has 6 rows, not 4 examples.
  const std::string tree_axis = message([&] { z::jit(z::vmap(example_loss, {0, 0, 0}))(params, x, z::Array::from<int32_t>({4}, {0, 1, 2, 1})); });
  CHECK_MESSAGE(contains(tree_axis, "argument 0 at '"), tree_axis);
  CHECK_MESSAGE(contains(tree_axis, "has 6 examples on axis 0 (f32[6, 5]), but the arguments mapped before it have 4"), tree_axis);
  const std::string number = message([&] { z::jit(z::vmap([](z::Tensor a, double s) { return a * s; }, {0, 0}))(a, 2.0); });
  CHECK_MESSAGE(contains(number, "argument 1 is not a Tensor, Params or TensorTree"), number);
}

TEST_CASE("vmap: per-example gradients of a CNN and of a transformer LM equal a loop") {
  // Each example is a batch of one: the models are written for batches, vmap adds the outer axis.
  auto check = [](auto loss, const z::ParamTree& params, const z::Array& xs, const z::Array& ys, const char* what) {
    const z::ParamTree per = z::jit(z::vmap(z::grad(loss), {z::unbatched, 0, 0}))(params, xs, ys);
    auto single = z::jit(z::grad(loss));
    for (int64_t b = 0; b < xs.shape(0); ++b) {
      const z::ParamTree one = single(params, example(xs, b), example(ys, b));
      for (size_t leaf = 0; leaf < one.size(); ++leaf) {
        const z::Array& g = per.leaves()[leaf].second;
        const z::Array want = one.leaves()[leaf].second;
        const z::Array got = example(g, b);
        for (int64_t i = 0; i < want.size(); ++i)
          REQUIRE_MESSAGE(got.at(i) == doctest::Approx(want.at(i)).epsilon(1e-4).scale(1e-3),
                          what << " example " << b << " " << one.leaves()[leaf].first << "[" << i << "]");
      }
    }
  };
  const z::Array images = random_array({3, 1, 8, 8, 1}, 21);
  const z::Array labels = z::Array::from<int32_t>({3, 1}, {4, 9, 0});
  const z::ParamTree cnn = z::trace(z::testing::small_cnn_loss, z::random::key(2), example(images, 0), example(labels, 0));
  check(z::testing::small_cnn_loss, cnn, images, labels, "CNN");

  auto lm = [](z::Params p, z::Tensor tokens, z::Tensor) { return z::testing::lm_loss(p, tokens, 1); };
  z::Array tokens({2, 1, 9}, z::DType::i32);
  for (int64_t i = 0; i < tokens.size(); ++i) tokens.data<int32_t>()[i] = static_cast<int32_t>((i * 37 + 11) % 64);
  const z::Array unused = z::Array::zeros({2, 1}, z::DType::f32);
  const z::ParamTree params = z::trace(lm, z::random::key(3), example(tokens, 0), example(unused, 0));
  check(lm, params, tokens, unused, "LM");
}

namespace {

// One member of an ensemble: a 2-layer MLP on a batch [4, 6].
z::Tensor member(z::Params p, z::Tensor x) { return z::nets::mlp(p, x, {5, 3}); }
z::Tensor member_loss(z::Params p, z::Tensor x, z::Tensor labels) {
  return z::losses::softmax_cross_entropy(member(p, x), labels);
}

}  // namespace

TEST_CASE("vmap: over Params, an ensemble's stacked params equal a loop over its members") {
  const z::Array x = random_array({4, 6}, 21);
  const z::Array labels = z::Array::from<int32_t>({4}, {2, 0, 1, 2});
  std::vector<z::ParamTree> members;
  for (uint32_t k = 0; k < 3; ++k) members.push_back(z::trace(member, z::random::key(10 + k), x));
  const z::ParamTree stacked = z::stack(members);
  CHECK(stacked.at("0/weights").shape() == z::Shape{3, 6, 5});
  const std::vector<z::ParamTree> rows = z::unstack(stacked);
  REQUIRE(rows.size() == 3);
  for (size_t m = 0; m < 3; ++m)
    for (size_t leaf = 0; leaf < members[m].size(); ++leaf)
      check_equal(rows[m].leaves()[leaf].second, members[m].leaves()[leaf].second, 0, "unstack");

  // Shared inputs: every member on the same batch, as one graph.
  const z::Array all = z::jit(z::vmap(member, {0, z::unbatched}))(stacked, x);
  REQUIRE(all.shape() == z::Shape{3, 4, 3});
  std::vector<z::Array> loop;
  for (const z::ParamTree& m : members) loop.push_back(z::jit(member)(m, x));
  check_equal(all, stack(loop), 1e-6, "ensemble on one batch");
  check_equal(z::interpret(z::vmap(member, {0, z::unbatched}))(stacked, x), stack(loop), 1e-6, "interpreted");

  // Per-member inputs too: member m on batch m.
  const z::Array xs = random_array({3, 4, 6}, 22);
  std::vector<z::Array> own;
  for (int64_t m = 0; m < 3; ++m) own.push_back(z::jit(member)(members[m], example(xs, m)));
  check_equal(z::jit(z::vmap(member, {0, 0}))(stacked, xs), stack(own), 1e-6, "one batch per member");

  // The gradient of the ensemble's summed loss is each member's own gradient, stacked.
  auto ensemble_loss = [](z::Params p, z::Tensor x, z::Tensor y) {
    return z::sum(z::vmap(member_loss, {0, z::unbatched, z::unbatched})(p, x, y));
  };
  const std::vector<z::ParamTree> grads = z::unstack(z::grad(ensemble_loss)(stacked, x, labels));
  for (size_t m = 0; m < 3; ++m) {
    const z::ParamTree want = z::grad(member_loss)(members[m], x, labels);
    for (size_t leaf = 0; leaf < want.size(); ++leaf)
      check_equal(grads[m].leaves()[leaf].second, want.leaves()[leaf].second, 1e-5, want.leaves()[leaf].first);
  }

  // A leaf without the axis, and members that do not match.
  const std::string axis = z::testing::error_of([&] { z::jit(z::vmap(member, {3, z::unbatched}))(stacked, x); });
  CHECK_MESSAGE(contains(axis, "argument 0 at '0/weights' is f32[3, 6, 5]: it has no axis 3 to map over"), axis);
  const std::string wrong_axis = z::testing::error_of([&] { z::jit(z::vmap(member, {2, z::unbatched}))(stacked, x); });
  CHECK_MESSAGE(contains(wrong_axis, "'0/weights' is f32[3, 6] in the tree passed as argument 0 of vmap, but the "
                                     "model now declares f32[6, 5]"), wrong_axis);
  const std::string sizes = z::testing::error_of([&] { z::jit(z::vmap(member, {0, 0}))(stacked, random_array({2, 4, 6}, 1)); });
  CHECK_MESSAGE(contains(sizes, "has 3 examples on axis 0"), sizes);
  const z::ParamTree other = z::trace([](z::Params p, z::Tensor v) { return z::nets::mlp(p, v, {7, 3}); }, z::random::key(1), x);
  const std::string mismatch = z::testing::error_of([&] { z::stack({members[0], other}); });
  CHECK_MESSAGE(contains(mismatch, "[stack] '0/weights' is f32[6, 7] in tree 1 but f32[6, 5] in tree 0"), mismatch);
}

TEST_CASE("vmap: over a TensorTree, every leaf on the same axis") {
  const z::Array a = random_array({3, 2}, 31), b = random_array({3}, 32), x = random_array({4}, 33);
  const z::ParamTree tree(std::vector<z::ParamTree::Leaf>{{"a", a}, {"b", b}});
  auto member = [](const z::TensorTree& t, z::Tensor v) {
    return z::sum(t.leaves()[0].second) * z::sum(v) + t.leaves()[1].second;
  };
  auto f = [member](z::Params p, z::Tensor v) { return z::vmap(member, {0, z::unbatched})(z::TensorTree(p), v); };
  const z::Array got = z::jit(f)(tree, x);
  REQUIRE(got.shape() == z::Shape{3});
  double sx = 0;
  for (int64_t i = 0; i < 4; ++i) sx += x.at(i);
  for (int64_t m = 0; m < 3; ++m)
    CHECK(got.at(m) == doctest::Approx((a.at(2 * m) + a.at(2 * m + 1)) * sx + b.at(m)).epsilon(1e-5));
}
