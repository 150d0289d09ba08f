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

// Registered from main() rather than by static initializers: this file lives in the zephyr::cli
// library, whose unreferenced objects a linker would drop.
void register_builtin_models() {
  static const bool done = [] {
    register_model(describe_model("linear", linear, spec({8, 64})));
    register_model(describe_model("mlp", classifier, spec({128, 784})));
    register_model(describe_model("mlp_loss", classifier_loss, spec({128, 784}), spec({128}, DType::i32, "labels")));
    register_model(describe_model("autoencoder", autoencoder, spec({8, 64}), 512, 256));
    register_model(describe_model("autoencoder_loss", autoencoder_loss, spec({8, 64}), 512, 256));
    return true;
  }();
  (void)done;
}

}  // namespace zephyr::cli
