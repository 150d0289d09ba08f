// Random numbers inside compiled code: the same threefry-2x32 as zephyr/random.h, written in the
// DSL over an i32[2] key tensor, so a jitted training step draws fresh bits from a key input.
#pragma once

#include <vector>

#include "zephyr/random.h"
#include "zephyr/tensor.h"

namespace zephyr::random {

/// A host key as the i32[2] array compiled functions take (the bits of {hi, lo}).
Array key_array(Key key);

/// `numel(shape)` random 32-bit words (as i32), equal to random::bits(key, n) on the host.
Tensor bits(const Tensor& key, const Shape& shape, Loc loc = Loc::current());
/// Uniform f32 in [lo, hi), equal to random::uniform on the host (jax.random.uniform).
Tensor uniform(const Tensor& key, const Shape& shape, double lo = 0.0, double hi = 1.0, Loc loc = Loc::current());
/// `n` keys, as random::split.
std::vector<Tensor> split(const Tensor& key, int n = 2, Loc loc = Loc::current());
/// As random::fold_in.
Tensor fold_in(const Tensor& key, uint32_t data, Loc loc = Loc::current());

}  // namespace zephyr::random
