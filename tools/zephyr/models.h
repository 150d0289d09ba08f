// The models built into the `zephyr` tool.
#pragma once

#include <zephyr/params.h>

namespace zephyr::cli {

/// The Fashion-MNIST classifier: an MLP 784-512-512-10 with ReLU (the main job's model).
Tensor classifier(Params p, Tensor x);
/// Its training loss: softmax cross-entropy against i32 labels.
Tensor classifier_loss(Params p, Tensor x, Tensor labels);

/// The small CNN of the performance issue on flat (batch, 784) images: conv3x3·32 -> max-pool
/// -> conv3x3·64 -> max-pool -> linear 10, ReLU after each convolution.
Tensor cnn(Params p, Tensor x);
Tensor cnn_loss(Params p, Tensor x, Tensor labels);

/// A small pre-norm transformer language model over byte tokens (batch, time) -> logits
/// (batch, time, 256): embedding + learned positions, `layers` causal blocks, a final norm.
/// `flash_block` > 0: the blocks attend by nets::flash_attention over key blocks of that size.
Tensor transformer(Params p, Tensor tokens, int layers, int model_dim, int heads, int flash_block = 0);
/// Next-token cross-entropy: predicts tokens[:, 1:] from tokens[:, :-1].
Tensor transformer_loss(Params p, Tensor tokens, int layers, int model_dim, int heads, int flash_block = 0);

/// Registers mlp, mlp_loss, autoencoder, autoencoder_loss and linear (once; idempotent).
void register_builtin_models();

}  // namespace zephyr::cli
