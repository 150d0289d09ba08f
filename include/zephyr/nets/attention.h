// Attention and transformer blocks, written from matmul and softmax.
#pragma once

#include "zephyr/ops.h"
#include "zephyr/compose.h"
#include "zephyr/params.h"

namespace zephyr::nets {

/// x * mask (mask broadcasts to x).
Tensor apply_mask(const Tensor& x, const Tensor& mask, Loc loc = Loc::current());
/// Scores where mask is true (bool) or 1 (float) are kept; the rest become a large negative
/// number, so softmax gives them no weight.
Tensor apply_attention_mask(const Tensor& scores, const Tensor& mask, Loc loc = Loc::current());

/// softmax(q' k'^T / sqrt(d)) v' with q', k', v' projected by "linear_queries", "linear_keys",
/// "linear_values". q: (..., t, d), k: (..., s, d), v: (..., s, e); mask broadcasts to (..., t, s).
Tensor single_head_attention(Params p, Tensor q, Tensor k, Tensor v, const Tensor& mask = {}, bool with_bias = true,
                             Loc loc = Loc::current());

/// Options of multi_head_attention and multi_head_self_attention.
struct AttentionOptions {
  Tensor mask;             ///< optional: broadcasts to (batch..., heads, t, s); bool or 0/1 float
  bool is_causal = false;  ///< query i sees keys j <= i
  bool with_bias = true;   ///< a bias in each of the four projections
  /// > 0: attend by flash_attention over blocks of this many keys, so that no (t, s) scores are
  /// stored and memory grows linearly with the context; takes no mask (is_causal is allowed).
  int64_t flash_block = 0;
};

/// Options of flash_attention.
struct FlashOptions {
  bool is_causal = false;  ///< query i sees keys j <= i
  int64_t key_block = 64;  ///< keys per step of the loop
};

/// softmax(q kᵀ / √d) v, computed a block of keys at a time with an online softmax (flash
/// attention): the (t, s) scores are never stored, forward or backward, so memory grows linearly
/// with the context. q: (..., t, d), k: (..., s, d), v: (..., s, e) with equal leading axes; s
/// need not be a multiple of the block. Its VJP recomputes each block's probabilities from the
/// saved log-sum-exp; jvp and vmap go through it. Equal to the plain softmax(q kᵀ / √d) v up to
/// rounding (test/unit/flash_attention_test.cpp).
Tensor flash_attention(const Tensor& q, const Tensor& k, const Tensor& v, const FlashOptions& options = {},
                       Loc loc = Loc::current());

/// Projections "q_proj", "k_proj", "v_proj", "out_proj" (weights (in, out), bias (out));
/// q: (..., t, model), k and v: (..., s, model); `heads` divides model.
Tensor multi_head_attention(Params p, Tensor q, Tensor k, Tensor v, int64_t heads, const AttentionOptions& options = {},
                            Loc loc = Loc::current());
Tensor multi_head_self_attention(Params p, Tensor x, int64_t heads, const AttentionOptions& options = {},
                                 Loc loc = Loc::current());

/// Linear attention (Katharopoulos et al.) with feature map elu + 1, per head; no parameters.
Tensor multi_head_linear_attention(Tensor q, Tensor k, Tensor v, int64_t heads, Loc loc = Loc::current());
/// zephyr's block: projections "linear/queries|keys|values" to embed_dim, linear attention,
/// then "layer_norm/0" (residual) and "mlp" (mlp_dim, embed_dim) with "layer_norm/1".
Tensor linear_transformer_block(Params p, Tensor q, Tensor k, Tensor v, int64_t heads, int64_t embed_dim,
                                int64_t mlp_dim, bool with_bias = true, Loc loc = Loc::current());

/// Pre-norm block: x + mha(layer_norm(x)), then + mlp(layer_norm(.)) with GELU; parameters
/// "layer_norm_1", "attention", "layer_norm_2", "mlp" (mlp_dim, model).
Tensor transformer_block(Params p, Tensor x, int64_t heads, int64_t mlp_dim, const AttentionOptions& options = {},
                         Loc loc = Loc::current());

// ---- With a hole for the input: Tensor(Tensor) layers for chain (see zephyr/compose.h) ----
inline Layer multi_head_self_attention(Params p, Hole, int64_t heads, const AttentionOptions& options = {},
                                       Loc loc = Loc::current()) {
  return [=](const Tensor& x) { return multi_head_self_attention(p, x, heads, options, loc); };
}
inline Layer transformer_block(Params p, Hole, int64_t heads, int64_t mlp_dim, const AttentionOptions& options = {},
                               Loc loc = Loc::current()) {
  return [=](const Tensor& x) { return transformer_block(p, x, heads, mlp_dim, options, loc); };
}

}  // namespace zephyr::nets
