#include "models.h"

#include <zephyr/registry.h>
#include <zephyr/zephyr.h>

namespace zephyr::cli {
namespace {

Tensor encoder(Params p, Tensor x, int embed, int latent) {
  x = nets::mlp(p["mlp_1"], x, {embed, embed});
  return nets::mlp(p["mlp_2"], x, {embed, latent});
}
Tensor decoder(Params p, Tensor x, int embed, int original) { return nets::mlp(p, x, {embed, embed, original}); }
Tensor autoencoder(Params p, Tensor x, int embed, int latent) {
  return decoder(p["decoder"], encoder(p["encoder"], x, embed, latent), embed, x.shape(-1));
}
Tensor autoencoder_loss(Params p, Tensor x, int embed, int latent) { return losses::mse(autoencoder(p, x, embed, latent), x); }
Tensor linear(Params p, Tensor x) { return nets::linear(p, x, 10); }

}  // namespace

Tensor classifier(Params p, Tensor x) { return nets::mlp(p, x, {512, 512, 10}); }
Tensor classifier_loss(Params p, Tensor x, Tensor labels) { return losses::softmax_cross_entropy(classifier(p, x), labels); }

Tensor cnn(Params p, Tensor x) {
  Tensor h = reshape(x, {x.shape(0), 28, 28, 1});
  h = nets::max_pool(relu(nets::conv_2d(p["conv_1"], h, 32, {3, 3})), {2, 2}, {2});
  h = nets::max_pool(relu(nets::conv_2d(p["conv_2"], h, 64, {3, 3})), {2, 2}, {2});
  return nets::linear(p["linear"], reshape(h, {x.shape(0), -1}), 10);
}
Tensor cnn_loss(Params p, Tensor x, Tensor labels) { return losses::softmax_cross_entropy(cnn(p, x), labels); }

Tensor transformer(Params p, Tensor tokens, int layers, int model_dim, int heads, int flash_block) {
  const int64_t vocab = 256, time = tokens.shape(-1);
  Tensor h = nets::token_embed(p["embed"], tokens, vocab, model_dim);
  h = add(h, validate(p["positions"], {time, model_dim}, init::normal(0.02)));
  for (int i = 0; i < layers; ++i) h = nets::transformer_block(p["blocks"][i], h, heads, 4 * model_dim, {.is_causal = true, .flash_block = flash_block});
  return nets::linear(p["head"], nets::layer_norm(p["final_norm"], h), vocab);
}
Tensor transformer_loss(Params p, Tensor tokens, int layers, int model_dim, int heads, int flash_block) {
  int64_t time = tokens.shape(-1);
  Tensor logits = transformer(p, slice(tokens, -1, 0, time - 1), layers, model_dim, heads, flash_block);
  Tensor targets = slice(tokens, -1, 1, time);
  return losses::softmax_cross_entropy(reshape(logits, {-1, logits.shape(-1)}), reshape(targets, {-1}));
}

// Registered from main() rather than by static initializers: this file lives in the zephyr::cli
// library, whose unreferenced objects a linker would drop.
void register_builtin_models() {
  static const bool done = [] {
    register_model(describe_model("linear", linear, spec({8, 64})));
    register_model(describe_model("cnn", cnn, spec({64, 784})));
    register_model(describe_model("cnn_loss", cnn_loss, spec({64, 784}), spec({64}, DType::i32, "labels")));
    register_model(describe_model("transformer", transformer, spec({8, 64}, DType::i32, "tokens"), 2, 64, 4, 0));
    register_model(describe_model("transformer_loss", transformer_loss, spec({8, 65}, DType::i32, "tokens"), 2, 64, 4, 0));
    register_model(describe_model("mlp", classifier, spec({128, 784})));
    register_model(describe_model("mlp_loss", classifier_loss, spec({128, 784}), spec({128}, DType::i32, "labels")));
    register_model(describe_model("autoencoder", autoencoder, spec({8, 64}), 512, 256));
    register_model(describe_model("autoencoder_loss", autoencoder_loss, spec({8, 64}), 512, 256));
    return true;
  }();
  (void)done;
}

}  // namespace zephyr::cli
