// Counter-based, splittable random numbers: JAX's threefry-2x32 PRNG, bit for bit.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "zephyr/array.h"

namespace zephyr::random {

/// A PRNG key: two 32-bit words, as JAX's raw uint32[2] keys.
struct Key {
  /// \var hi
  /// The first word (raw key element 0).
  /// \var lo
  /// The second word (raw key element 1).
  uint32_t hi = 0, lo = 0;
  /// Both words equal.
  bool operator==(const Key&) const = default;
};

/// JAX's PRNGKey(seed): {seed >> 32, seed & 0xffffffff}.
Key key(uint64_t seed);
/// The threefry-2x32 block cipher with 20 rounds (Salmon et al., Random123).
std::array<uint32_t, 2> threefry2x32(Key key, std::array<uint32_t, 2> count);
/// `n` independent keys, as jax.random.split.
std::vector<Key> split(Key key, int n = 2);
/// A new key mixed with `data`, as jax.random.fold_in.
Key fold_in(Key key, uint32_t data);
/// `n` random 32-bit words, as jax.random.bits for uint32.
std::vector<uint32_t> bits(Key key, int64_t n);

/// Uniform in [lo, hi). f32 reproduces jax.random.uniform exactly.
Array uniform(Key key, Shape shape, DType dtype = DType::f32, double lo = 0.0, double hi = 1.0);
/// Standard normal, as jax.random.normal (sqrt(2) * erfinv(u)).
Array normal(Key key, Shape shape, DType dtype = DType::f32);
/// Standard normal truncated to [lower, upper], as jax.random.truncated_normal.
Array truncated_normal(Key key, double lower, double upper, Shape shape, DType dtype = DType::f32);

/// Inverse error function in double precision (used by the samplers; exposed for tests).
double erfinv(double y);

}  // namespace zephyr::random
