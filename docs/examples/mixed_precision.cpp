// Mixed-precision training: f32 master weights, a model that computes in bf16 (its weights read
// through `p.as(bf16)`, its activations cast to bf16), and an f32 loss. The gradient reaches the
// f32 weights through the casts, and Adam updates them in f32; every op on bf16 computes in f32
// and rounds its result. The same MLP trained in f32 is the yardstick.
// Usage: mixed_precision [training examples (default 12800)].
#include <fmt/core.h>
#include <zephyr/zephyr.h>

#include <cmath>
#include <cstdlib>

namespace z = zephyr;

z::Tensor mlp(z::Params p, z::Tensor images) { return z::nets::mlp(p, images, {256, 10}); }

// The same loss in f32 or with bf16 compute: only `p.as` and the casts differ.
z::Tensor loss(z::Params p, z::Tensor images, z::Tensor labels, bool bf16) {
  if (!bf16) return z::losses::softmax_cross_entropy(mlp(p, images), labels);
  z::Tensor logits = mlp(p.as(z::DType::bf16), z::cast(images, z::DType::bf16));
  return z::losses::softmax_cross_entropy(z::cast(logits, z::DType::f32), labels);  // the loss in f32
}

// Trains from the same initial weights and batches; returns the held-out accuracy.
double train(bool bf16, const z::data::Dataset& train_set, const z::data::Dataset& held_out) {
  const int64_t batch = 128;
  z::ParamTree params = z::trace(mlp, z::random::key(0), z::Array::zeros({batch, 784}));
  z::optim::Optimizer opt = z::optim::adam(1e-3);
  z::ParamTree state = opt.init(params);
  auto step = z::jit([&opt, bf16](z::Params p, z::OptState s, z::Tensor x, z::Tensor y) {
    auto [value, grads] = z::value_and_grad([bf16](z::Params q, z::Tensor a, z::Tensor b) { return loss(q, a, b, bf16); })(p, x, y);
    auto [new_params, new_state] = opt.update(grads, s, p);
    return std::tuple{new_params, new_state, value};
  });
  auto order = z::data::batches(z::random::key(7), train_set.size(), batch);
  for (size_t i = 0; i < order.size(); ++i) {
    z::data::Dataset b = z::data::batch(train_set, order[i]);
    auto [p2, s2, value] = step(params, state, b.images, b.labels);
    params = std::move(p2);
    state = std::move(s2);
    if ((i + 1) % 25 == 0) fmt::print("{} step {:>3}/{}: loss {:.4f}\n", bf16 ? "bf16" : "f32 ", i + 1, order.size(), value.item<float>());
  }
  // The master weights stay f32: that is what a checkpoint of this run holds.
  for (const auto& [path, w] : params) if (w.dtype() != z::DType::f32) std::abort();
  auto accuracy = z::jit([bf16](z::Params p, z::Tensor x, z::Tensor y) {
    z::Tensor logits = bf16 ? z::cast(mlp(p.as(z::DType::bf16), z::cast(x, z::DType::bf16)), z::DType::f32) : mlp(p, x);
    return z::metrics::accuracy(logits, y);
  });
  return accuracy(params, held_out.images, held_out.labels).item<float>();
}

int main(int argc, char** argv) {
  const int64_t examples = argc > 1 ? std::atoll(argv[1]) : 12800;
  z::data::Dataset train_set = z::data::load_fashion_mnist("train");
  std::vector<int64_t> first(std::min(examples, train_set.size()));
  for (size_t i = 0; i < first.size(); ++i) first[i] = static_cast<int64_t>(i);
  train_set = z::data::batch(train_set, first);
  z::data::Dataset test = z::data::load_fashion_mnist("test");
  std::vector<int64_t> rows(5000);
  for (int64_t i = 0; i < 5000; ++i) rows[i] = i;
  const z::data::Dataset held_out = z::data::batch(test, rows);

  const double f32 = train(false, train_set, held_out), bf16 = train(true, train_set, held_out);
  fmt::print("test accuracy on {} images: f32 {:.4f}, bf16 compute with f32 master weights {:.4f}\n", rows.size(), f32, bf16);
  // bf16 keeps 8 bits of mantissa: the run should land within a point or two of f32's.
  return bf16 > 0.75 && std::abs(bf16 - f32) < 0.02 ? 0 : 1;
}
