// What `zephyr train` trains and how: the model (a built-in, or a registered or plugin model
// that maps (batch, 784) images to 10 logits), its loss and test metric, and the optimizer and
// learning-rate schedule the flags name.
#pragma once

#include <functional>
#include <zephyr/optim.h>
#include <zephyr/params.h>

#include "train.h"

namespace zephyr::cli {

struct Trainable {
  std::function<Tensor(Params, Tensor)> forward;  // images (batch, 784) -> logits or reconstructions
  bool classify;                                  // test metric: accuracy; else reconstruction MSE
  int64_t batch_size;                             // the default (the CNN learns more from 64)
  /// Softmax cross-entropy against the labels for a classifier, MSE against the images otherwise.
  Tensor loss(Params p, const Tensor& images, const Tensor& labels) const;
};

/// mlp, cnn and autoencoder are built in; any other name is looked up among the registered
/// models (ZEPHYR_MODEL, --plugin). Throws naming the model when it is unknown, takes other
/// than one input, or does not give (batch, 10) logits for (batch, 784) images.
Trainable trainable(const std::string& model);

/// The --optimizer and --schedule flags' choices, for help and errors.
inline constexpr const char* kOptimizers[] = {"sgd", "momentum", "adam", "adamw"};
inline constexpr const char* kSchedules[] = {"constant", "cosine", "warmup-cosine"};

/// The learning rate of --lr and --schedule over a run of `steps` steps.
optim::LearningRate learning_rate(const TrainOptions& options, int64_t steps);
/// The optimizer of --optimizer with that learning rate.
optim::Optimizer optimizer(const TrainOptions& options, optim::LearningRate lr);
/// The rate `lr` gives at `step` (1-based), evaluated on the host (for logs).
double rate_at(const optim::LearningRate& lr, int64_t step);

}  // namespace zephyr::cli
