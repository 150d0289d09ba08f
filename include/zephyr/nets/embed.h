// Token embeddings and dropout.
#pragma once

#include "zephyr/ops.h"
#include "zephyr/compose.h"
#include "zephyr/params.h"

namespace zephyr::nets {

/// Rows of "token_embeddings" (vocab, dim) picked by i32 ids: shape ids.shape + (dim).
/// The gradient is a scatter-add into the rows. Ids outside [0, vocab) throw under jit (a
/// run-time check); ahead-of-time code, which cannot throw, clamps them into range.
/// The default initializer is normal with std 1/sqrt(dim).
Tensor token_embed(Params p, const Tensor& ids, int64_t vocab, int64_t dim, const Initializer& initializer = {},
                   DType dtype = DType::f32, Loc loc = Loc::current());

/// Zeroes each element with probability `rate` and scales the rest by 1 / (1 - rate); the bits
/// come from `key` (i32[2], random::key_array) inside the compiled code. Identity when not training.
Tensor dropout(const Tensor& key, const Tensor& x, double rate, bool training = true, Loc loc = Loc::current());

// ---- With a hole for the input: Tensor(Tensor) layers for chain (see zephyr/compose.h) ----
inline Layer token_embed(Params p, Hole, int64_t vocab, int64_t dim, const Initializer& initializer = {},
                         DType dtype = DType::f32, Loc loc = Loc::current()) {
  return [=](const Tensor& ids) { return token_embed(p, ids, vocab, dim, initializer, dtype, loc); };
}
inline Layer dropout(const Tensor& key, Hole, double rate, bool training = true, Loc loc = Loc::current()) {
  return [=](const Tensor& x) { return dropout(key, x, rate, training, loc); };
}

}  // namespace zephyr::nets
