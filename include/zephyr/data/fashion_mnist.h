// Fashion-MNIST (Xiao et al. 2017) from the IDX files of Debian's dataset-fashion-mnist, and
// the shuffling and batching a training loop needs.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "zephyr/array.h"
#include "zephyr/random.h"

namespace zephyr::data {

/// Examples as rows: images[i] is the flattened image whose class is labels[i].
struct Dataset {
  Array images;  ///< f32 [n, 784], pixel / 255 in [0, 1]
  Array labels;  ///< i32 [n], class in 0..9
  /// Number of examples (0 for an empty Dataset).
  int64_t size() const { return labels.defined() ? labels.shape(0) : 0; }
};

inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

/// The "train" (60000 examples) or "test" (10000) split; checks 28x28 images, as many labels
/// as images, and labels in 0..9.
Dataset load_fashion_mnist(const std::string& split, const std::string& dir = kFashionMnistDir);

/// A random permutation of 0..n-1 determined by `key`: jax.random.permutation's algorithm
/// (rounds of stable sorts by random::bits).
std::vector<int64_t> permutation(random::Key key, int64_t n);

/// The rows of `d` at `indices`, in that order (copies).
Dataset batch(const Dataset& d, std::span<const int64_t> indices);

/// One epoch of shuffled mini-batches of indices into n examples. With drop_last the final
/// short batch is dropped, so every batch has exactly batch_size indices.
std::vector<std::vector<int64_t>> batches(random::Key key, int64_t n, int64_t batch_size, bool drop_last = true);

}  // namespace zephyr::data
