// The models built into the `zephyr` tool.
#pragma once

#include <zephyr/params.h>

namespace zephyr::cli {

/// The Fashion-MNIST classifier: an MLP 784-512-512-10 with ReLU (the main job's model).
Tensor classifier(Params p, Tensor x);
/// Its training loss: softmax cross-entropy against i32 labels.
Tensor classifier_loss(Params p, Tensor x, Tensor labels);

/// Registers mlp, mlp_loss, autoencoder, autoencoder_loss and linear (once; idempotent).
void register_builtin_models();

}  // namespace zephyr::cli
