// `zephyr train`: the main job. Trains a model on Fashion-MNIST with one compiled function per
// training step, reports test metrics after each epoch and checkpoints atomically.
#pragma once

#include <cstdint>
#include <string>

namespace zephyr::cli {

struct TrainOptions {
  std::string model = "mlp";  // mlp (784-512-512-10 classifier), cnn (models.h), autoencoder (MSE),
                              // or a registered classifier (trainable.h)
  int epochs = 5;
  int64_t batch_size = 0;     // 0: the model's default (128; 64 for cnn)
  double learning_rate = 1e-3;
  std::string optimizer = "adam";   // sgd, momentum (0.9), adam, adamw (decay 1e-4)
  std::string schedule = "cosine";  // constant, cosine (to 0 over the run), warmup-cosine (5 % warm-up)
  std::string log;                  // metrics log (JSON lines); empty: none
  int64_t log_every = 50;           // steps per step line of the log
  uint64_t seed = 0;
  std::string checkpoint;     // default: zephyr-<model>.safetensors
  bool resume = false;        // continue from `checkpoint`, bit for bit
  bool force = false;         // resume even though the checkpoint's run had another configuration
  int64_t limit = 0;          // use only the first `limit` training examples (quick runs)
  int stop_after = 0;         // stop after this epoch, as an interruption would (tests resume)
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  int threads = 0;            // 0: ZEPHYR_NUM_THREADS, else every core
  bool quiet = false;         // no progress or per-epoch lines (benchmarks)
  bool zero = false;          // on several ranks: each keeps and updates 1/N of the optimizer state (ZeRO-1)
  bool overlap = true;        // on several ranks: average the gradients during the backward pass
  int64_t bucket_kb = 1024;   // ... in buckets of this many kilobytes
};

/// Runs the training; returns the final test metric (accuracy, or reconstruction MSE).
double train(TrainOptions options);

}  // namespace zephyr::cli
