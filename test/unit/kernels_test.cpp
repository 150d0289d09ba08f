// The JIT as kernels and a schedule (Options::kernels, the default) against the whole graph
// compiled as one function (kernels = false): the same results bit for bit, and identical layers
// compiled once.
#include <doctest/doctest.h>
#include <zephyr/zephyr.h>

#include <cstring>

#include "reference.h"

namespace z = zephyr;
using z::testing::random_array;

namespace {

z::compiler::Options whole_graph(int threads) {
  z::compiler::Options o;
  o.kernels = false;
  o.threads = threads;
  return o;
}

z::compiler::Options as_kernels(int threads) {
  z::compiler::Options o;
  o.threads = threads;
  return o;
}

void check_same_bits(const z::Array& a, const z::Array& b, const std::string& what) {
  INFO(what);
  REQUIRE(a.shape() == b.shape());
  REQUIRE(a.dtype() == b.dtype());
  CHECK(std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0);
}

void check_same_bits(const z::ParamTree& a, const z::ParamTree& b, const std::string& what) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) check_same_bits(a.leaves()[i].second, b.leaves()[i].second, what + " " + a.leaves()[i].first);
}

// A causal transformer LM over byte tokens, as the Kernels issue's model (smaller).
z::Tensor lm_loss(z::Params p, z::Tensor tokens, int blocks) {
  const int64_t vocab = 64, dim = 32, time = tokens.shape(-1) - 1;
  z::Tensor inputs = z::slice(tokens, -1, 0, time), targets = z::slice(tokens, -1, 1, time + 1);
  z::Tensor h = z::nets::token_embed(p["embed"], inputs, vocab, dim);
  for (int i = 0; i < blocks; ++i) h = z::nets::transformer_block(p["blocks"][i], h, 4, 4 * dim, {.is_causal = true});
  z::Tensor logits = z::nets::linear(p["head"], z::nets::layer_norm(p["final_norm"], h), vocab);
  return z::losses::softmax_cross_entropy(z::reshape(logits, {-1, vocab}), z::reshape(targets, {-1}));
}

z::Array lm_tokens(int64_t batch, int64_t time) {
  z::Array tokens({batch, time + 1}, z::DType::i32);
  for (int64_t i = 0; i < tokens.size(); ++i) tokens.data<int32_t>()[i] = static_cast<int32_t>((i * 37 + 11) % 64);
  return tokens;
}

auto adam_step(const z::optim::Optimizer& adam) {
  return [adam](z::Params p, z::OptState s, z::Tensor x, int blocks) {
    auto [loss, grads] = z::value_and_grad(lm_loss)(p, x, blocks);
    auto [p2, s2] = adam.update(grads, s, p);
    return std::tuple{p2, s2, loss};
  };
}

z::Tensor cnn_loss(z::Params p, z::Tensor x, z::Tensor labels) {
  z::Tensor h = z::nets::max_pool(z::relu(z::nets::conv_2d(p["conv"], x, 8, {3, 3})), {2, 2}, {2});
  z::Tensor logits = z::nets::linear(p["out"], z::reshape(h, {x.shape(0), -1}), 10);
  return z::losses::softmax_cross_entropy(logits, labels);
}

}  // namespace

TEST_CASE("kernels: a transformer LM's Adam step equals the whole-graph lowering bit for bit, on 1 and 2 threads") {
  const z::Array tokens = lm_tokens(2, 16);
  const z::ParamTree params = z::trace(lm_loss, z::random::key(0), tokens, 2);
  const z::optim::Optimizer adam = z::optim::adam(1e-3);
  const z::ParamTree state = adam.init(params);
  for (int threads : {1, 2}) {
    auto [p1, s1, l1] = z::jit(adam_step(adam), as_kernels(threads))(params, state, tokens, 2);
    auto [p2, s2, l2] = z::jit(adam_step(adam), whole_graph(threads))(params, state, tokens, 2);
    check_same_bits(l1, l2, "loss");
    check_same_bits(p1, p2, "params");
    check_same_bits(s1, s2, "state");
  }
}

TEST_CASE("kernels: a CNN's gradient (windows added in place, pooling masks) equals the whole-graph lowering") {
  const z::Array x = random_array({4, 10, 10, 1}, 3);
  z::Array labels({4}, z::DType::i32);
  for (int i = 0; i < 4; ++i) labels.data<int32_t>()[i] = i * 3 % 10;
  const z::ParamTree params = z::trace(cnn_loss, z::random::key(1), x, labels);
  auto grad = [](z::Params p, z::Tensor images, z::Tensor y) { return z::value_and_grad(cnn_loss)(p, images, y); };
  auto [v1, g1] = z::jit(grad, as_kernels(1))(params, x, labels);
  auto [v2, g2] = z::jit(grad, whole_graph(1))(params, x, labels);
  check_same_bits(v1, v2, "loss");
  check_same_bits(g1, g2, "grads");
}

TEST_CASE("kernels: results that alias arguments, each other, constants and views are each their own copy") {
  auto f = [](z::Tensor a, z::Tensor b) {
    z::Tensor y = z::exp(a) * b;
    z::Tensor mask = z::greater(y, z::scalar(1.0));  // a comparison used twice: fused into both
    z::Tensor picked = z::where(mask, y, b) + z::where(mask, b, y);
    return std::tuple{y, y, a, z::reshape(y, {-1}), picked, z::sum(y), z::full({3, 5}, 3.0)};
  };
  const z::Array a = random_array({3, 5}, 1), b = random_array({3, 5}, 2);
  auto r1 = z::jit(f, as_kernels(1))(a, b);
  auto r2 = z::jit(f, whole_graph(1))(a, b);
  check_same_bits(std::get<0>(r1), std::get<0>(r2), "y");
  check_same_bits(std::get<1>(r1), std::get<1>(r2), "y again");
  check_same_bits(std::get<2>(r1), a, "the argument");
  check_same_bits(std::get<3>(r1), std::get<3>(r2), "a view of y");
  check_same_bits(std::get<4>(r1), std::get<4>(r2), "selects under a shared mask");
  check_same_bits(std::get<5>(r1), std::get<5>(r2), "a reduction");
  check_same_bits(std::get<6>(r1), std::get<6>(r2), "a constant");
  // Distinct results own distinct memory: writing one leaves the other alone.
  z::Array y = std::get<0>(r1), y_again = std::get<1>(r1);
  CHECK(y.raw() != y_again.raw());
}

TEST_CASE("kernels: identical blocks compile once: 1, 2, 4 and 8 blocks have the same distinct kernels") {
  const z::optim::Optimizer adam = z::optim::adam(1e-3);
  std::vector<z::compiler::CompileStats> stats;
  for (int blocks : {1, 2, 4, 8}) {
    const z::Array tokens = lm_tokens(2, 16);
    const z::ParamTree params = z::trace(lm_loss, z::random::key(0), tokens, blocks);
    const z::ParamTree state = adam.init(params);
    auto step = z::jit(adam_step(adam), as_kernels(1));
    step(params, state, tokens, blocks);
    stats.push_back(step.last_compile());
    MESSAGE(blocks << " blocks: " << stats.back().kernel_calls << " kernel calls, " << stats.back().distinct
                   << " distinct");
  }
  // A block's kernels do not depend on where the block is, nor do the embedding's, the head's or
  // Adam's on how many blocks there are: more blocks add calls, not kernels.
  for (size_t i = 1; i < stats.size(); ++i) CHECK(stats[i].distinct == stats[0].distinct);
  CHECK(stats[3].kernel_calls > 3 * stats[1].kernel_calls);
  // Every kernel of the 8-block step was compiled by the smaller ones already (this process).
  CHECK(stats[3].compiled == 0);
  CHECK(stats[3].from_cache == stats[3].distinct);
}
