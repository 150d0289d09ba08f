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

}  // namespace zephyr::testing
