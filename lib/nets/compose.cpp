// chain, skip and threading: plain function composition over Layers.
#include "zephyr/compose.h"

#include "zephyr/ops.h"
#include "zephyr/random_ops.h"

namespace zephyr {

Layer chain(std::vector<Layer> layers) {
  return [layers = std::move(layers)](const Tensor& x) {
    Tensor y = x;
    for (const Layer& f : layers) y = f(y);
    return y;
  };
}

Layer skip(Layer f) {
  return [f = std::move(f)](const Tensor& x) { return add(x, f(x)); };
}

std::vector<Layer> thread_params(const std::vector<ParamLayer>& layers, const Params& p) {
  std::vector<Layer> out;
  for (size_t i = 0; i < layers.size(); ++i)
    out.push_back([f = layers[i], sub = p[static_cast<int>(i)]](const Tensor& x) { return f(sub, x); });
  return out;
}

std::vector<Layer> thread_key(const std::vector<KeyLayer>& layers, const Tensor& key) {
  std::vector<Tensor> keys = random::split(key, static_cast<int>(layers.size()));
  std::vector<Layer> out;
  for (size_t i = 0; i < layers.size(); ++i)
    out.push_back([f = layers[i], k = keys[i]](const Tensor& x) { return f(k, x); });
  return out;
}

}  // namespace zephyr
