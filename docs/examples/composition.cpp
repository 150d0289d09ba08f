// The seed README's encoder and decoder written two ways: step by step, and as a chain of
// layers with holes (z::_). Both trace the same parameter tree and compute the same numbers.
#include <fmt/core.h>
#include <zephyr/zephyr.h>

namespace z = zephyr;
using z::_;

// Step by step, as in the seed README.
z::Tensor encoder(z::Params p, z::Tensor x, int embed, int latent) {
  x = z::nets::mlp(p["mlp_1"], x, {embed, embed});
  return z::nets::mlp(p["mlp_2"], x, {embed, latent});
}
z::Tensor decoder(z::Params p, z::Tensor x, int embed, int original) {
  return z::nets::mlp(p, x, {embed, embed, original});
}
z::Tensor autoencoder(z::Params p, z::Tensor x, int embed, int latent) {
  return decoder(p["decoder"], encoder(p["encoder"], x, embed, latent), embed, x.shape(-1));
}

// The same model as one chain: every layer with its input left as a hole.
z::Tensor chained_autoencoder(z::Params p, z::Tensor x, int embed, int latent) {
  std::vector<int64_t> widths{embed, embed}, to_latent{embed, latent}, back{embed, embed, x.shape(-1)};
  z::Layer model = z::chain(z::nets::mlp(p["encoder"]["mlp_1"], _, widths),
                            z::nets::mlp(p["encoder"]["mlp_2"], _, to_latent),
                            z::nets::mlp(p["decoder"], _, back));
  return model(x);
}

// A user function made hole-aware with one line, then used inside a chain with a residual.
const auto scaled_tanh = z::flexible([](z::Tensor x, double scale) { return z::tanh(x) * scale; });

z::Tensor residual_head(z::Params p, z::Tensor x) {
  z::Layer block = z::skip(z::chain(z::nets::linear(p["inner"], _, x.shape(-1)), scaled_tanh(_, 0.5)));
  return z::nets::layer_norm(p["norm"], block(x));
}

// The README's example: convolution, activation and pooling as one layer.
z::Tensor small_cnn(z::Params p, z::Tensor images, int64_t batch) {
  z::Layer features = z::chain(z::nets::conv_2d(p["conv"], _, 32, {3, 3}), z::relu,
                               z::nets::max_pool(_, {2, 2}, {2}));
  z::Tensor logits = z::nets::linear(p["out"], z::reshape(features(images), {batch, -1}), 10);
  return logits;
}

int main() {
  const int batch = 8, original = 64, embed = 128, latent = 32;
  z::Array x = z::random::normal(z::random::key(42), {batch, original});

  z::ParamTree params = z::trace(autoencoder, z::random::key(0), x, embed, latent);
  z::ParamTree chained_params = z::trace(chained_autoencoder, z::random::key(0), x, embed, latent);
  fmt::print("step by step: {} leaves, {} parameters; chained: {} leaves, {} parameters\n", params.size(),
             params.count(), chained_params.size(), chained_params.count());
  bool same = params.size() == chained_params.size();
  for (size_t i = 0; same && i < params.size(); ++i)
    same = params.leaves()[i].first == chained_params.leaves()[i].first &&
           params.leaves()[i].second.bitwise_equal(chained_params.leaves()[i].second);
  if (!same) {
    fmt::print("error: the two ways trace different parameter trees\n");
    return 1;
  }

  // One tree runs both functions: the chain is the same model.
  z::Array y = z::jit(autoencoder)(params, x, embed, latent);
  z::Array y_chained = z::jit(chained_autoencoder)(params, x, embed, latent);
  if (!y.bitwise_equal(y_chained)) {
    fmt::print("error: the chained autoencoder computes different numbers\n");
    return 1;
  }
  fmt::print("chained autoencoder == step-by-step autoencoder, bit for bit\n");

  z::ParamTree head = z::trace(residual_head, z::random::key(1), x);
  z::Array h = z::jit(residual_head)(head, x);
  fmt::print("residual_head: {} -> {}, parameters:\n{}\n", z::describe(x.dtype(), x.shape()),
             z::describe(h.dtype(), h.shape()), head);

  z::Array images = z::random::uniform(z::random::key(3), {2, 8, 8, 1});
  z::ParamTree cnn = z::trace(small_cnn, z::random::key(4), images, int64_t{2});
  z::Array logits = z::jit(small_cnn)(cnn, images, int64_t{2});
  fmt::print("small_cnn: {} -> {}, {} parameters\n", z::describe(images.dtype(), images.shape()),
             z::describe(logits.dtype(), logits.shape()), cnn.count());
  return logits.shape() == z::Shape{2, 10} ? 0 : 1;
}
