// A small transformer language model over characters, on a text this example writes itself
// (sentences from a tiny grammar). It trains with Adam, prints the falling loss, then
// continues a prompt greedily. Usage: char_transformer [steps (default 300)].
#include <fmt/core.h>
#include <zephyr/zephyr.h>

#include <cstdlib>
#include <string>

namespace z = zephyr;

constexpr int64_t kContext = 32, kModel = 64, kHeads = 4, kLayers = 2;

// Deterministic text: "the cat sees a bird. my dog likes the fish. ..."
std::string make_text(int sentences) {
  const char* subjects[] = {"the cat", "a dog", "my bird", "the fish", "a fox"};
  const char* verbs[] = {"sees", "likes", "chases", "finds"};
  const char* objects[] = {"the cat", "a dog", "my bird", "the fish", "a fox", "the moon"};
  std::string text;
  uint32_t state = 1;
  auto next = [&](uint32_t n) {  // a linear congruential generator: the text is the same everywhere
    state = state * 1664525u + 1013904223u;
    return (state >> 16) % n;
  };
  for (int i = 0; i < sentences; ++i)
    text += fmt::format("{} {} {}. ", subjects[next(5)], verbs[next(4)], objects[next(6)]);
  return text;
}

z::Tensor language_model(z::Params p, z::Tensor tokens, int64_t vocab) {
  z::Tensor h = z::nets::token_embed(p["embed"], tokens, vocab, kModel);
  h = h + z::validate(p["positions"], {tokens.shape(-1), kModel}, z::init::normal(0.02));
  for (int i = 0; i < kLayers; ++i)
    h = z::nets::transformer_block(p["blocks"][i], h, kHeads, 4 * kModel, {.is_causal = true});
  return z::nets::linear(p["head"], z::nets::layer_norm(p["final_norm"], h), vocab);
}

// Each position predicts the next character.
z::Tensor next_token_loss(z::Params p, z::Tensor window, int64_t vocab) {
  int64_t t = window.shape(-1);
  z::Tensor logits = language_model(p, z::slice(window, -1, 0, t - 1), vocab);
  z::Tensor targets = z::slice(window, -1, 1, t);
  return z::losses::softmax_cross_entropy(z::reshape(logits, {-1, vocab}), z::reshape(targets, {-1}));
}

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::atoi(argv[1]) : 300;
  const int64_t batch = 16;
  std::string text = make_text(2000);
  std::string chars;  // the vocabulary: every character the text uses
  for (char c : text)
    if (chars.find(c) == std::string::npos) chars += c;
  const int64_t vocab = static_cast<int64_t>(chars.size());
  std::vector<int32_t> ids;
  for (char c : text) ids.push_back(static_cast<int32_t>(chars.find(c)));
  fmt::print("text: {} characters, vocabulary of {}: \"{}...\"\n", text.size(), vocab, text.substr(0, 60));

  z::Array example = z::Array::zeros({batch, kContext + 1}, z::DType::i32);
  z::ParamTree params = z::trace(next_token_loss, z::random::key(0), example, vocab);
  fmt::print("{} parameters in {} leaves\n", params.count(), params.size());
  z::optim::Optimizer opt = z::optim::adam(z::optim::warmup(20, z::optim::cosine(3e-3, steps)));
  z::ParamTree state = opt.init(params);
  auto step = z::jit([&opt, vocab](z::Params p, z::OptState s, z::Tensor windows) {
    auto [loss, grads] = z::value_and_grad(next_token_loss)(p, windows, vocab);
    auto [new_params, new_state] = opt.update(grads, s, p);
    return std::tuple{new_params, new_state, loss};
  });

  std::vector<z::random::Key> keys = z::random::split(z::random::key(7), steps);
  double first = 0, last = 0;
  for (int i = 0; i < steps; ++i) {
    // Random windows of the text (starts drawn from this step's key).
    z::Array windows({batch, kContext + 1}, z::DType::i32);
    std::vector<uint32_t> starts = z::random::bits(keys[i], batch);
    for (int64_t b = 0; b < batch; ++b) {
      size_t start = starts[b] % (ids.size() - kContext - 1);
      for (int64_t t = 0; t <= kContext; ++t) windows.data<int32_t>()[b * (kContext + 1) + t] = ids[start + t];
    }
    auto [p2, s2, loss] = step(params, state, windows);
    params = std::move(p2);
    state = std::move(s2);
    double value = loss.item<float>();
    if (i == 0) first = value;
    last = i >= steps - 10 ? last + value / 10 : last;
    if (i % 25 == 0 || i == steps - 1) fmt::print("step {:>4}: loss {:.4f}\n", i, value);
  }

  // Greedy continuation of a prompt, one character at a time, on a sliding window.
  auto predict = z::jit([vocab](z::Params p, z::Tensor tokens) { return language_model(p, tokens, vocab); });
  std::string generated = text.substr(0, kContext);
  for (int i = 0; i < 48; ++i) {
    z::Array window({1, kContext}, z::DType::i32);
    for (int64_t t = 0; t < kContext; ++t)
      window.data<int32_t>()[t] = static_cast<int32_t>(chars.find(generated[generated.size() - kContext + t]));
    z::Array logits = predict(params, window);
    int64_t best = 0;
    for (int64_t v = 1; v < vocab; ++v)
      if (logits.at((kContext - 1) * vocab + v) > logits.at((kContext - 1) * vocab + best)) best = v;
    generated += chars[best];
  }
  fmt::print("prompt \"{}\" continues as \"{}\"\n", generated.substr(0, kContext), generated.substr(kContext));
  fmt::print("loss: first step {:.4f}, mean of the last 10 steps {:.4f}\n", first, last);
  // Uniform guessing costs log(vocab) ~ 3.2; the grammar leaves well under half of that.
  return last < 0.5 * first ? 0 : 1;
}
