// Fashion-MNIST loading, and index permutations and batches for training loops.
#include "zephyr/data/fashion_mnist.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "zephyr/data/idx.h"

namespace zephyr::data {
namespace {

constexpr int64_t kSide = 28;
constexpr int kClasses = 10;

// Copies whole rows (everything after axis 0), so it serves any dtype and row shape.
Array gather_rows(const Array& a, std::span<const int64_t> indices) {
  Shape shape = a.shape();
  int64_t n = shape.at(0);
  size_t row = static_cast<size_t>(numel(Shape(shape.begin() + 1, shape.end()))) * itemsize(a.dtype());
  shape[0] = static_cast<int64_t>(indices.size());
  Array out(shape, a.dtype());
  auto* dst = static_cast<std::byte*>(out.raw());
  const auto* src = static_cast<const std::byte*>(a.raw());
  for (size_t i = 0; i < indices.size(); ++i) {
    if (indices[i] < 0 || indices[i] >= n)
      throw Error(fmt::format("[data.batch] index {} (position {}) is out of range for {} examples", indices[i], i, n));
    std::memcpy(dst + i * row, src + static_cast<size_t>(indices[i]) * row, row);
  }
  return out;
}

}  // namespace

Dataset load_fashion_mnist(const std::string& split, const std::string& dir) {
  if (split != "train" && split != "test")
    throw Error(fmt::format("[fashion_mnist] unknown split '{}' (expected \"train\" or \"test\")", split));
  const std::string prefix = dir + "/" + (split == "train" ? "train" : "t10k");
  const std::string images_path = prefix + "-images-idx3-ubyte.gz", labels_path = prefix + "-labels-idx1-ubyte.gz";

  IdxBytes images = read_idx_bytes(images_path);
  if (images.shape.size() != 3 || images.shape[1] != kSide || images.shape[2] != kSide)
    throw Error(fmt::format("[fashion_mnist] {}: images have shape {}, expected [n, 28, 28]", images_path,
                            to_string(images.shape)));
  IdxBytes labels = read_idx_bytes(labels_path);
  if (labels.shape.size() != 1)
    throw Error(
        fmt::format("[fashion_mnist] {}: labels have shape {}, expected [n]", labels_path, to_string(labels.shape)));
  const int64_t n = images.shape[0];
  if (labels.shape[0] != n)
    throw Error(fmt::format("[fashion_mnist] {} has {} images but {} has {} labels", images_path, n, labels_path,
                            labels.shape[0]));

  Dataset d{Array({n, kSide * kSide}, DType::f32), Array({n}, DType::i32)};
  float* pixels = d.images.data<float>();
  for (size_t i = 0; i < images.values.size(); ++i) pixels[i] = static_cast<float>(images.values[i]) / 255.0f;
  int32_t* classes = d.labels.data<int32_t>();
  for (int64_t i = 0; i < n; ++i) {
    if (labels.values[i] >= kClasses)
      throw Error(fmt::format("[fashion_mnist] {}: label {} at index {} (offset {}) is outside 0..9", labels_path,
                              labels.values[i], i, 8 + i));
    classes[i] = labels.values[i];
  }
  return d;
}

std::vector<int64_t> permutation(random::Key key, int64_t n) {
  if (n < 0) throw Error(fmt::format("[data.permutation] negative size {}", n));
  std::vector<int64_t> x(static_cast<size_t>(n));
  std::iota(x.begin(), x.end(), 0);
  // Enough rounds that all sort keys of an element are unlikely to tie (JAX's heuristic);
  // the sort is stable, so ties keep the previous order, as lax.sort_key_val does.
  const int rounds = static_cast<int>(
      std::ceil(3.0 * std::log(std::max<double>(1.0, static_cast<double>(n))) / std::log(4294967295.0)));
  std::vector<std::pair<uint32_t, int64_t>> keyed(x.size());  // (sort key, position)
  std::vector<int64_t> previous;
  for (int r = 0; r < rounds; ++r) {
    std::vector<random::Key> keys = random::split(key);
    key = keys[0];
    std::vector<uint32_t> sort_keys = random::bits(keys[1], n);
    for (size_t i = 0; i < x.size(); ++i) keyed[i] = {sort_keys[i], static_cast<int64_t>(i)};
    std::sort(keyed.begin(), keyed.end());  // ties broken by position: a stable sort by key
    previous.swap(x);
    x.resize(previous.size());
    for (size_t i = 0; i < x.size(); ++i) x[i] = previous[static_cast<size_t>(keyed[i].second)];
  }
  return x;
}

Dataset batch(const Dataset& d, std::span<const int64_t> indices) {
  return {gather_rows(d.images, indices), gather_rows(d.labels, indices)};
}

std::vector<std::vector<int64_t>> batches(random::Key key, int64_t n, int64_t batch_size, bool drop_last) {
  if (batch_size <= 0) throw Error(fmt::format("[data.batches] batch size {} is not positive", batch_size));
  std::vector<int64_t> order = permutation(key, n);
  std::vector<std::vector<int64_t>> out;
  for (int64_t begin = 0; begin < n; begin += batch_size) {
    int64_t end = std::min(n, begin + batch_size);
    if (end - begin < batch_size && drop_last) break;
    out.emplace_back(order.begin() + begin, order.begin() + end);
  }
  return out;
}

}  // namespace zephyr::data
