#include "models.h"

#include <fmt/format.h>

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
Tensor classifier(Params p, Tensor x) { return nets::mlp(p, x, {512, 512, 10}); }
Tensor linear(Params p, Tensor x) { return nets::linear(p, x, 10); }

// A model with its example inputs and hyper-parameters bound.
template <class F, class... Hyper>
Model make(std::string name, std::string signature, F f, Shape input, Hyper... hyper) {
  Array example(input, DType::f32);
  return Model{std::move(name), std::move(signature),
               [=](random::Key key) { return zephyr::trace(f, key, example, hyper...); },
               [=](const ParamTree& params) { return make_function(f, params, example, hyper...); }};
}

}  // namespace

const std::vector<Model>& models() {
  static const std::vector<Model> all = {
      make("linear", "linear(params, x: f32[8, 64]) -> f32[8, 10]", linear, {8, 64}),
      make("mlp", "mlp(params, x: f32[128, 784]) -> f32[128, 10]   (784-512-512-10, relu)", classifier, {128, 784}),
      make("autoencoder", "autoencoder(params, x: f32[8, 64], embed=512, latent=256) -> f32[8, 64]", autoencoder,
           {8, 64}, 512, 256),
  };
  return all;
}

const Model& find_model(const std::string& name) {
  std::vector<std::string> names;
  for (const Model& m : models()) {
    if (m.name == name) return m;
    names.push_back(m.name);
  }
  throw Error(fmt::format("unknown model '{}' (known: {})", name, fmt::join(names, ", ")));
}

}  // namespace zephyr::cli
