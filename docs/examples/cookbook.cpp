// Every snippet of docs/cookbook.md, compiled and run with checks of what the text says
// (test/docs/cookbook_snippets_test.py checks that each snippet of the page is here verbatim).
#include <fmt/core.h>
#include <zephyr/vmap.h>
#include <zephyr/zephyr.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <tuple>
#include <vector>

namespace z = zephyr;

namespace {

int failures = 0;
void check(bool ok, const std::string& what) {
  fmt::print("{} {}\n", ok ? "ok  " : "FAIL", what);
  failures += !ok;
}

// ---- Coming from JAX or Haiku ----
z::Tensor mlp(z::Params p, z::Tensor x) { return z::nets::mlp(p, x, {64, 10}); }
z::Tensor loss(z::Params p, z::Tensor x, z::Tensor y) { return z::losses::softmax_cross_entropy(mlp(p, x), y); }

void from_jax() {
  z::Array x = z::Array::ones({32, 784});
  z::Array y = z::Array::zeros({32}, z::DType::i32);
  z::ParamTree params = z::trace(mlp, z::random::key(0), x);  // params = model.init(key, x)
  z::optim::Optimizer opt = z::optim::adam(1e-3);              // optax.adam(1e-3)
  z::ParamTree state = opt.init(params);                       // opt_state = opt.init(params)
  auto step = z::jit([opt](z::Params p, z::OptState s, z::Tensor x, z::Tensor y) {
    auto [value, grads] = z::value_and_grad(loss)(p, x, y);    // jax.value_and_grad(loss)(p, x, y)
    auto [new_p, new_s] = opt.update(grads, s, p);             // opt.update + optax.apply_updates
    return std::tuple{new_p, new_s, value};
  });
  auto [p1, s1, first] = step(params, state, x, y);
  auto [p2, s2, second] = step(p1, s1, x, y);
  check(second.item<float>() < first.item<float>(), "from JAX: two Adam steps lower the loss");
}

// ---- Coming from PyTorch ----
void from_pytorch() {
  z::ParamTree params = z::trace(mlp, z::random::key(0), z::Array::ones({1, 784}));
  for (const auto& [path, array] : params)  // model.named_parameters()
    fmt::print("{:<12} {}\n", path, z::describe(array.dtype(), array.shape()));
  z::io::save("cookbook-mlp.safetensors", params);  // torch.save(model.state_dict(), ...)
  z::ParamTree again = z::io::load("cookbook-mlp.safetensors", params);  // model.load_state_dict(...)
  check(params.size() == 4 && again.at("1/weights").at(5) == params.at("1/weights").at(5),
        "from PyTorch: named parameters listed, saved and loaded");
  std::remove("cookbook-mlp.safetensors");
}

// ---- Freezing layers and transfer learning ----
void freezing() {
  z::Array x = z::Array::ones({8, 784});
  z::Array y = z::Array::zeros({8}, z::DType::i32);
  z::ParamTree params = z::trace(mlp, z::random::key(0), x);
  // Train only the last layer ("1/..."); the first keeps its value exactly, decay included.
  z::optim::Optimizer opt = z::optim::masked(z::optim::adamw(1e-2, 1e-4), [](const std::string& path) {
    return path.starts_with("1/");
  });
  auto step = z::jit([opt](z::Params p, z::OptState s, z::Tensor x, z::Tensor y) {
    auto [value, grads] = z::value_and_grad(loss)(p, x, y);
    auto [new_p, new_s] = opt.update(grads, s, p);
    return std::tuple{new_p, new_s, value};
  });
  auto [trained, state, value] = step(params, opt.init(params), x, y);
  check(trained.at("0/weights").at(7) == params.at("0/weights").at(7), "freezing: the frozen layer did not move");
  check(trained.at("1/weights").at(7) != params.at("1/weights").at(7), "freezing: the trained layer moved");
}

// ---- Partial loading ----
z::Tensor encoder(z::Params p, z::Tensor x) { return z::nets::mlp(p, x, {128, 32}); }
z::Tensor classifier(z::Params p, z::Tensor x) {
  return z::nets::linear(p["head"], z::relu(encoder(p["encoder"], x)), 10);
}

void partial_loading() {
  z::Array x = z::Array::ones({1, 784});
  z::ParamTree pretrained = z::trace(classifier, z::random::key(1), x);
  z::io::save("pretrained.safetensors", pretrained);
  // A new classifier with a fresh head, its encoder from the file's "encoder/..." tensors.
  z::ParamTree params = z::trace(classifier, z::random::key(2), x);
  params.set("encoder", z::io::load("pretrained.safetensors", params["encoder"], {.prefix = "encoder/"}));
  check(params.at("encoder/0/weights").at(3) == pretrained.at("encoder/0/weights").at(3) &&
            params.at("head/weights").at(3) != pretrained.at("head/weights").at(3),
        "partial loading: the encoder comes from the file, the head stays fresh");
  std::remove("pretrained.safetensors");
}

// ---- Learning-rate logging ----
void learning_rate_logging() {
  z::optim::LearningRate lr = z::optim::warmup(100, z::optim::cosine(1e-3, 900));
  auto rate = z::interpret([lr](z::Tensor step) { return lr.at(step); });  // no compile: plain loops
  for (float step : {1.0f, 50.0f, 100.0f, 550.0f, 1000.0f})
    fmt::print("step {:>4}: learning rate {:.3g}\n", step, rate(z::Array::scalar(step)).item<float>());
  double halfway = rate(z::Array::scalar(550.0f)).item<float>();
  double expected = 1e-3 * 0.5 * (1 + std::cos(M_PI * 450 / 900));
  check(std::abs(halfway - expected) < 1e-8, "learning rate: the schedule's value at step 550 is its formula's");
}

// ---- Custom layers ----
z::Tensor rms_norm(z::Params p, z::Tensor x, double eps = 1e-6) {
  p["scale"] == z::array({x.shape(-1)}, z::init::ones);  // declared where it is used
  z::Tensor rms = z::sqrt(z::mean(x * x, {-1}, true) + eps);
  return x / rms * p["scale"];
}
z::Tensor block(z::Params p, z::Tensor x) { return z::nets::linear(p["proj"], rms_norm(p["norm"], x), 16); }

void custom_layers() {
  z::Array x = z::Array::from({1, 4}, {1.f, 2.f, 3.f, 4.f});
  z::ParamTree params = z::trace(block, z::random::key(0), x);
  fmt::print("{}\n", params);  // norm/scale [4], proj/weights [4, 16], proj/bias [16]
  z::Array normed = z::jit(rms_norm)(params["norm"], x, 1e-6);
  double rms = std::sqrt((1 + 4 + 9 + 16) / 4.0);
  check(params.contains("norm/scale") && std::abs(normed.at(3) - 4 / rms) < 1e-5,
        "custom layers: rms_norm declares its scale and normalizes");
}

// ---- Debugging shapes ----
z::Tensor broken(z::Params p, z::Tensor x) { return z::matmul(x, z::nets::linear(p, x, 10)); }

void debugging_shapes() {
  z::Array x = z::Array::ones({2, 3});
  z::ParamTree params = z::trace(mlp, z::random::key(0), z::Array::ones({2, 784}));
  fmt::print("{}", z::print_graph(z::make_function(mlp, params, z::Array::ones({2, 784})), true));
  std::string message;
  try {
    z::trace(broken, z::random::key(0), x);
  } catch (const z::Error& e) {
    message = e.what();  // [matmul] ... f32[2, 3] and f32[2, 10] ... cookbook.cpp:<line>
  }
  fmt::print("{}\n", message);
  check(message.find("matmul") != std::string::npos && message.find("cookbook.cpp") != std::string::npos,
        "debugging shapes: the error names the op and the line");
}

// ---- Dynamic batch sizes and recompiles ----
void dynamic_batches() {
  auto scaled = z::jit([](z::Tensor x, z::Tensor factor) { return x * factor; });
  z::Array x = z::Array::ones({32, 8});
  for (float factor : {0.5f, 1.0f, 2.0f}) scaled(x, z::Array::scalar(factor));  // data: one compile
  scaled(z::Array::ones({17, 8}), z::Array::scalar(1.0f));                        // a new shape: a second
  check(scaled.compiles() == 2, "recompiles: one per shape, none per value of an Array argument");

  auto by_constant = z::jit([](z::Tensor x, double factor) { return x * factor; });
  for (double factor : {0.5, 1.0, 2.0}) by_constant(x, factor);  // a plain double is a constant
  check(by_constant.compiles() == 3, "recompiles: one per value of a plain double");
}

// ---- Ensembles ----
void ensembles() {
  z::Array x = z::Array::ones({16, 784});
  std::vector<z::ParamTree> members;
  for (uint32_t k = 0; k < 4; ++k) members.push_back(z::trace(mlp, z::random::key(k), x));
  z::ParamTree stacked = z::stack(members);                 // every leaf gets a leading axis of 4
  auto ensemble = z::jit(z::vmap(mlp, {0, z::unbatched}));  // jax.vmap(mlp, in_axes=(0, None))
  z::Array logits = ensemble(stacked, x);                   // [4, 16, 10]: four models, one graph
  z::Array third = z::jit(mlp)(members[2], x);
  check(logits.shape() == z::Shape{4, 16, 10} && std::abs(logits.at(2 * 160 + 7) - third.at(7)) < 1e-5,
        "ensembles: member 2 of the vmapped ensemble equals member 2 alone");
}

// ---- Long contexts: flash attention ----
std::tuple<z::Tensor, z::Tensor> long_context(z::Params p, z::Tensor x, z::Tensor q, z::Tensor k, z::Tensor v, int heads,
                                              int model) {
  z::nets::AttentionOptions o{.is_causal = true, .flash_block = 64};  // 64 keys per step
  z::Tensor h = z::nets::transformer_block(p["block"], x, heads, 4 * model, o);
  // or on (..., t, d) queries, keys and values directly:
  z::Tensor y = z::nets::flash_attention(q, k, v, {.is_causal = true, .key_block = 64});
  return {h, y};
}
// The same with the plain path: the (t, t) scores stored.
std::tuple<z::Tensor, z::Tensor> plain_context(z::Params p, z::Tensor x, z::Tensor q, z::Tensor k, z::Tensor v, int heads,
                                               int model) {
  z::Tensor h = z::nets::transformer_block(p["block"], x, heads, 4 * model, {.is_causal = true});
  const int64_t t = q.shape(-2);
  z::Tensor scores = z::matmul(q, z::moveaxis(k, -1, -2)) / std::sqrt(double(q.shape(-1)));
  scores = z::where(z::greater_equal(z::iota({t, t}, 0), z::iota({t, t}, 1)), scores, z::scalar(-1e9));
  return {h, z::matmul(z::softmax(scores, -1), v)};
}

void long_contexts() {
  // Context 100: a block of 64 keys and one of 36.
  const z::Array x = z::random::normal(z::random::key(1), {2, 100, 32});
  const z::Array q = z::random::normal(z::random::key(2), {2, 4, 100, 8}), k = z::random::normal(z::random::key(3), {2, 4, 100, 8}),
                 v = z::random::normal(z::random::key(4), {2, 4, 100, 8});
  const z::ParamTree p = z::trace(long_context, z::random::key(0), x, q, k, v, 4, 32);
  auto [h, y] = z::jit(long_context)(p, x, q, k, v, 4, 32);
  auto [h0, y0] = z::jit(plain_context)(p, x, q, k, v, 4, 32);
  double worst = 0;
  for (int64_t i = 0; i < h.size(); ++i) worst = std::max(worst, std::abs(h.at(i) - h0.at(i)));
  for (int64_t i = 0; i < y.size(); ++i) worst = std::max(worst, std::abs(y.at(i) - y0.at(i)));
  check(worst < 1e-4, fmt::format("flash attention: the block and the raw call equal the plain path (worst {:.1e})", worst));
}

}  // namespace

int main() {
  setenv("ZEPHYR_WARN_RECOMPILES", "0", 1);  // the last recipe recompiles on purpose
  from_jax();
  from_pytorch();
  freezing();
  partial_loading();
  learning_rate_logging();
  custom_layers();
  debugging_shapes();
  dynamic_batches();
  ensembles();
  long_contexts();
  fmt::print("{} failed\n", failures);
  return failures ? 1 : 0;
}
