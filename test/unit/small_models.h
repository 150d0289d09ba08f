// Small models that several compiler tests run.
#pragma once

#include <zephyr/zephyr.h>

namespace zephyr::testing {

/// A 3x3 convolution (8 channels), ReLU, 2x2 max pooling and a linear layer to 10 classes, with
/// softmax cross-entropy: im2col, pooling masks and window adds in its gradient.
inline Tensor small_cnn_loss(Params p, Tensor x, Tensor labels) {
  Tensor h = nets::max_pool(relu(nets::conv_2d(p["conv"], x, 8, {3, 3})), {2, 2}, {2});
  Tensor logits = nets::linear(p["out"], reshape(h, {x.shape(0), -1}), 10);
  return losses::softmax_cross_entropy(logits, labels);
}

/// A causal transformer LM over 64 byte tokens (dim 32, 4 heads), as the Kernels issue's model
/// (smaller): next-token cross-entropy of (batch, time + 1) tokens.
inline Tensor lm_loss(Params p, Tensor tokens, int blocks) {
  const int64_t vocab = 64, dim = 32, time = tokens.shape(-1) - 1;
  Tensor inputs = slice(tokens, -1, 0, time), targets = slice(tokens, -1, 1, time + 1);
  Tensor h = nets::token_embed(p["embed"], inputs, vocab, dim);
  for (int i = 0; i < blocks; ++i) h = nets::transformer_block(p["blocks"][i], h, 4, 4 * dim, {.is_causal = true});
  Tensor logits = nets::linear(p["head"], nets::layer_norm(p["final_norm"], h), vocab);
  return losses::softmax_cross_entropy(reshape(logits, {-1, vocab}), reshape(targets, {-1}));
}

/// Deterministic tokens for lm_loss.
inline Array lm_tokens(int64_t batch, int64_t time) {
  Array tokens({batch, time + 1}, DType::i32);
  for (int64_t i = 0; i < tokens.size(); ++i) tokens.data<int32_t>()[i] = static_cast<int32_t>((i * 37 + 11) % 64);
  return tokens;
}

}  // namespace zephyr::testing
