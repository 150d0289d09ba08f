// The JIT as kernels and a schedule (Options::kernels, the default) against the whole graph
// compiled as one function (kernels = false): the same results bit for bit, and identical layers
// compiled once.
#include <doctest/doctest.h>
#include <zephyr/zephyr.h>

#include <fmt/format.h>
#include <unistd.h>
#include <zephyr/io/atomic_file.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "../../lib/compiler/partition.h"
#include "reference.h"
#include "small_models.h"

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

auto adam_step(const z::optim::Optimizer& adam) {
  return [adam](z::Params p, z::OptState s, z::Tensor x, int blocks) {
    auto [loss, grads] = z::value_and_grad(z::testing::lm_loss)(p, x, blocks);
    auto [p2, s2] = adam.update(grads, s, p);
    return std::tuple{p2, s2, loss};
  };
}

}  // namespace

TEST_CASE("kernels: a transformer LM's Adam step equals the whole-graph lowering bit for bit, on 1 and 2 threads") {
  const z::Array tokens = z::testing::lm_tokens(2, 16);
  const z::ParamTree params = z::trace(z::testing::lm_loss, z::random::key(0), tokens, 2);
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
  const z::ParamTree params = z::trace(z::testing::small_cnn_loss, z::random::key(1), x, labels);
  auto grad = [](z::Params p, z::Tensor images, z::Tensor y) { return z::value_and_grad(z::testing::small_cnn_loss)(p, images, y); };
  auto [v1, g1] = z::jit(grad, as_kernels(1))(params, x, labels);
  auto [v2, g2] = z::jit(grad, whole_graph(1))(params, x, labels);
  check_same_bits(v1, v2, "loss");
  check_same_bits(g1, g2, "grads");
}

TEST_CASE("kernels: GELU's gradient reads x alone, so its forward and backward are one pass each") {
  // loss = sum(gelu(x) * w): one call for the loss, one for dx, each reading only arguments. Its
  // autodiff as a composite stored the tanh and the products its backward reads.
  auto f = [](z::Tensor x, z::Tensor w) { return z::value_and_grad([](z::Tensor a, z::Tensor b) { return z::sum(z::gelu(a) * b); })(x, w); };
  const z::Array x = random_array({64, 96}, 1, z::DType::f32, -4, 4), w = random_array({64, 96}, 2);
  const z::Function fn = z::make_function(f, x, w);
  const z::compiler::Schedule s = z::compiler::partition(fn);
  CHECK(s.calls.size() == 2);
  for (const z::compiler::KernelCall& call : s.calls)
    for (size_t in : call.inputs) CHECK(in < s.arguments);
  const std::vector<z::Array> args = {x, w};
  const std::vector<z::Array> want = z::interpret(fn, args);
  for (int n : {1, 2}) {
    auto [loss, dx] = z::jit(f, as_kernels(n))(x, w);
    CHECK(loss.at(0) == doctest::Approx(want[0].at(0)).epsilon(1e-5));
    for (int64_t i = 0; i < dx.size(); ++i) REQUIRE(dx.at(i) == doctest::Approx(want[1].at(i)).epsilon(1e-5).scale(1.0));  // 1 - tanh² near 0 in f32
  }
}

TEST_CASE("kernels: a ReLU layer stores its output alone, its product's epilogue computing bias and ReLU") {
  // relu's gradient reads its output, so the pre-activation is read only by the ReLU, in the
  // product's kernel. Stored values of the hidden layer's shape: the ReLU's output (the next layer
  // reads it) and the cotangent of its input (the weight and bias gradients read it); the
  // pre-activation was a third, and the ReLU a kernel of its own.
  auto loss = [](z::Params p, z::Tensor x) { return z::sum(z::nets::mlp(p, x, {96, 48})); };
  auto f = [loss](z::Params p, z::Tensor x) { return z::value_and_grad(loss)(p, x); };
  const z::Array x = random_array({64, 80}, 4);
  const z::ParamTree params = z::trace(loss, z::random::key(0), x);
  const z::Function fn = z::make_function(f, params, x);
  const z::compiler::Schedule s = z::compiler::partition(fn);
  size_t hidden = 0;
  for (size_t v = s.arguments; v < s.values.size(); ++v) hidden += s.values[v].shape == z::Shape{64, 96};
  CHECK(hidden == 2);
  const z::Function& first = s.kernels[s.calls.front().kernel];
  CHECK(first.results[0]->op == z::OpKind::Select);  // the ReLU, in the product's kernel
  bool product = false;
  for (const z::Node* n : z::topological_order(first.results)) product |= n->op == z::OpKind::MatMul;
  CHECK(product);
  auto [want_value, want_grads] = z::interpret(f)(params, x);
  for (int n : {1, 2}) {
    auto [value, grads] = z::jit(f, as_kernels(n))(params, x);
    CHECK(value.at(0) == doctest::Approx(want_value.at(0)).epsilon(1e-5));
    for (const auto& [path, g] : grads.leaves()) {
      INFO(path);
      for (int64_t i = 0; i < g.size(); ++i)
        REQUIRE(g.at(i) == doctest::Approx(want_grads.at(path).at(i)).epsilon(1e-4).scale(1.0));
    }
  }
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
    const z::Array tokens = z::testing::lm_tokens(2, 16);
    const z::ParamTree params = z::trace(z::testing::lm_loss, z::random::key(0), tokens, blocks);
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

namespace {

// Deterministic bytes for an argument: positive floats (Adam's second moments go under a square
// root) and small integers (token ids below the vocabulary, the step count).
z::Array filled_like(const z::NodePtr& argument, int salt) {
  z::Array a(argument->shape, argument->dtype);
  for (int64_t i = 0; i < a.size(); ++i) {
    if (a.dtype() == z::DType::i32) a.data<int32_t>()[i] = static_cast<int32_t>((i * 37 + salt) % 64);
    else a.data<float>()[i] = 0.05f * std::fabs(std::sin(0.37f * static_cast<float>(i) + static_cast<float>(salt)));
  }
  return a;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

int64_t bytes_of(const z::NodePtr& node) { return z::numel(node->shape) * z::itemsize(node->dtype); }

// A C program that reads every argument from one file, calls `entry` through its generated
// header, and writes every result to another file.
std::string c_driver(const z::Function& fn, const std::string& header) {
  std::vector<std::string> in, out, pointers;
  for (size_t i = 0; i < fn.arguments.size(); ++i) {
    in.push_back(std::to_string(bytes_of(fn.arguments[i])));
    pointers.push_back(fmt::format("a[{}]", i));
  }
  for (size_t i = 0; i < fn.results.size(); ++i) {
    out.push_back(std::to_string(bytes_of(fn.results[i])));
    pointers.push_back(fmt::format("r[{}]", i));
  }
  return fmt::format(R"(#include <stdio.h>
#include <stdlib.h>
#include "{0}"
static const size_t in_bytes[] = {{{1}}}, out_bytes[] = {{{2}}};
enum {{ IN = {3}, OUT = {4} }};
int main(int argc, char** argv) {{
  void *a[IN], *r[OUT];
  FILE* f = fopen(argv[1], "rb");
  for (int i = 0; i < IN; ++i) {{ a[i] = malloc(in_bytes[i] + 1); if (fread(a[i], 1, in_bytes[i], f) != in_bytes[i]) return 2; }}
  fclose(f);
  for (int i = 0; i < OUT; ++i) r[i] = malloc(out_bytes[i] + 1);
  {5}({6});
  f = fopen(argv[2], "wb");
  for (int i = 0; i < OUT; ++i) fwrite(r[i], 1, out_bytes[i], f);
  return fclose(f) == 0 ? 0 : 3;
}}
)",
                     header, fmt::join(in, ", "), fmt::join(out, ", "), in.size(), out.size(), fn.name,
                     fmt::join(pointers, ", "));
}

}  // namespace

TEST_CASE("kernels: an 8-block LM's Adam step compiled ahead of time links into a C program and gives the JIT's bits") {
  namespace fs = std::filesystem;
  const z::Array tokens = z::testing::lm_tokens(2, 16);
  const int blocks = 8;
  const z::ParamTree params = z::trace(z::testing::lm_loss, z::random::key(0), tokens, blocks);
  const z::optim::Optimizer adam = z::optim::adam(1e-3);
  z::Function fn = z::make_function(adam_step(adam), params, adam.init(params), tokens, blocks);
  fn.name = "lm8_step";

  std::vector<z::Array> arguments;
  std::string input_bytes;
  for (size_t i = 0; i < fn.arguments.size(); ++i) {
    arguments.push_back(filled_like(fn.arguments[i], static_cast<int>(i)));
    input_bytes.append(static_cast<const char*>(arguments.back().raw()), static_cast<size_t>(arguments.back().nbytes()));
  }
  std::vector<z::Array> results;
  std::vector<void*> argument_pointers, result_pointers;
  for (z::Array& a : arguments) argument_pointers.push_back(a.raw());
  for (const z::NodePtr& r : fn.results) {
    results.emplace_back(r->shape, r->dtype);
    result_pointers.push_back(results.back().raw());
  }
  const std::shared_ptr<z::compiler::Executable> jitted = z::compiler::compile(fn, as_kernels(1));
  jitted->run(argument_pointers.data(), result_pointers.data());

  const fs::path dir = fs::temp_directory_path() / fmt::format("zephyr-aot-test-{}", ::getpid());
  fs::create_directories(dir);
  z::compiler::compile_to_object(fn, (dir / "lm8.o").string());
  z::io::write_file_atomically((dir / "lm8.h").string(), z::compiler::c_header(fn));
  z::io::write_file_atomically((dir / "driver.c").string(), c_driver(fn, "lm8.h"));
  z::io::write_file_atomically((dir / "in.bin").string(), input_bytes);
  const std::string build = fmt::format("cd '{}' && '{}' -O1 driver.c lm8.o -lm -o driver && ./driver in.bin out.bin",
                                        dir.string(), ZEPHYR_TEST_C_COMPILER);
  REQUIRE(std::system(build.c_str()) == 0);

  // The object holds each distinct kernel once: the 8 blocks share theirs.
  const std::string symbols = fmt::format("nm '{}' > '{}'", (dir / "lm8.o").string(), (dir / "nm.txt").string());
  REQUIRE(std::system(symbols.c_str()) == 0);
  const std::string table = read_file(dir / "nm.txt");
  size_t kernels_in_object = 0;
  for (size_t at = 0; (at = table.find(" t zk_", at)) != std::string::npos; ++at) ++kernels_in_object;
  CHECK(kernels_in_object == jitted->stats().distinct);
  CHECK(jitted->stats().kernel_calls > 3 * jitted->stats().distinct / 2);

  const std::string out = read_file(dir / "out.bin");
  size_t offset = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    const size_t n = static_cast<size_t>(results[i].nbytes());
    INFO("result " << i);
    REQUIRE(offset + n <= out.size());
    CHECK(std::memcmp(out.data() + offset, results[i].raw(), n) == 0);
    offset += n;
  }
  CHECK(offset == out.size());
  fs::remove_all(dir);
}
