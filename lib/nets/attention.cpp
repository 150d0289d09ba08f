// Attention layers and transformer blocks, composed from linear, matmul and softmax.
#include "zephyr/nets/attention.h"

#include <cmath>

#include "layer.h"
#include "zephyr/nets/linear.h"
#include "zephyr/nets/norm.h"

namespace zephyr::nets {
namespace {

Tensor swap_last(const Tensor& t, Loc loc) { return moveaxis(t, -1, -2, loc); }

// (..., s, heads * e) -> (..., heads, s, e)
Tensor split_heads(const Tensor& t, int64_t heads, Loc loc) {
  Shape shape = t.shape();
  shape.back() = heads;
  shape.push_back(t.shape(-1) / heads);
  return moveaxis(reshape(t, shape, loc), -2, -3, loc);
}

// (..., heads, s, e) -> (..., s, heads * e)
Tensor merge_heads(const Tensor& t, Loc loc) {
  Tensor moved = moveaxis(t, -3, -2, loc);
  Shape shape(moved.shape().begin(), moved.shape().end() - 2);
  shape.push_back(t.shape(-3) * t.shape(-1));
  return reshape(moved, shape, loc);
}

void check_mask(const Tensor& mask, const Tensor& scores, const SourceLoc& where, const char* layer) {
  if (mask.ndim() > scores.ndim() || broadcast_shapes(mask.shape(), scores.shape(), layer, where) != scores.shape())
    fail_at(where, layer, fmt::format("mask {} does not broadcast to the attention scores {} (batch..., heads, queries, keys)",
                                      to_string(mask.shape()), to_string(scores.shape())));
}

// softmax(q k^T / sqrt(d) masked) v over the last two axes.
Tensor attend(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, bool causal, const SourceLoc& where,
              const char* layer, Loc loc, int64_t flash_block = 0) {
  if (flash_block != 0) {
    if (mask.defined())
      fail_at(where, layer, "flash attention (flash_block set) takes no mask: use is_causal, or flash_block = 0");
    return flash_attention(q, k, v, {.is_causal = causal, .key_block = flash_block}, loc);
  }
  Tensor scores = div(matmul(q, swap_last(k, loc), loc), scalar(std::sqrt(double(q.shape(-1))), q.dtype(), loc), loc);
  if (mask.defined()) {
    check_mask(mask, scores, where, layer);
    scores = apply_attention_mask(scores, mask, loc);
  }
  if (causal) {
    int64_t t = scores.shape(-2), s = scores.shape(-1);
    Tensor visible = greater_equal(iota({t, s}, 0, DType::i32, loc), iota({t, s}, 1, DType::i32, loc), loc);
    scores = apply_attention_mask(scores, visible, loc);
  }
  return matmul(softmax(scores, -1, loc), v, loc);
}

}  // namespace

Tensor apply_mask(const Tensor& x, const Tensor& mask, Loc loc) { return mul(x, cast(mask, x.dtype(), loc), loc); }

Tensor apply_attention_mask(const Tensor& scores, const Tensor& mask, Loc loc) {
  // Large but finite: a fully masked row still gives a (uniform) softmax instead of NaN.
  Tensor hidden = scalar(-1e9, scores.dtype(), loc);
  Tensor keep = mask.dtype() == DType::bool_ ? mask : not_equal(mask, scalar(0.0, mask.dtype(), loc), loc);
  return where(keep, scores, hidden, loc);
}

Tensor single_head_attention(Params p, Tensor q, Tensor k, Tensor v, const Tensor& mask, bool with_bias, Loc loc) {
  return detail::in_layer(p, [&] {
    int64_t d = k.shape(-1);
    Tensor keys = linear(p["linear_keys"], k, d, with_bias, init::base, loc);
    Tensor queries = linear(p["linear_queries"], q, d, with_bias, init::base, loc);
    Tensor values = linear(p["linear_values"], v, v.shape(-1), with_bias, init::base, loc);
    return attend(queries, keys, values, mask, false, SourceLoc::from(loc), "single_head_attention", loc);
  });
}

Tensor multi_head_attention(Params p, Tensor q, Tensor k, Tensor v, int64_t heads, const AttentionOptions& o, Loc loc) {
  return detail::in_layer(p, [&] {
    SourceLoc where = SourceLoc::from(loc);
    int64_t model = q.shape(-1);
    if (heads < 1 || model % heads != 0)
      fail_at(where, "multi_head_attention",
              fmt::format("{} heads do not divide the model dim {} of queries {}", heads, model, to_string(q.shape())));
    Tensor Q = split_heads(linear(p["q_proj"], q, model, o.with_bias, init::base, loc), heads, loc);
    Tensor K = split_heads(linear(p["k_proj"], k, model, o.with_bias, init::base, loc), heads, loc);
    Tensor V = split_heads(linear(p["v_proj"], v, model, o.with_bias, init::base, loc), heads, loc);
    Tensor heads_out = attend(Q, K, V, o.mask, o.is_causal, where, "multi_head_attention", loc, o.flash_block);
    return linear(p["out_proj"], merge_heads(heads_out, loc), model, o.with_bias, init::base, loc);
  });
}

Tensor multi_head_self_attention(Params p, Tensor x, int64_t heads, const AttentionOptions& o, Loc loc) {
  return multi_head_attention(p, x, x, x, heads, o, loc);
}

Tensor multi_head_linear_attention(Tensor q, Tensor k, Tensor v, int64_t heads, Loc loc) {
  SourceLoc at = SourceLoc::from(loc);
  if (heads < 1 || q.shape(-1) % heads != 0 || k.shape(-1) % heads != 0 || v.shape(-1) % heads != 0)
    fail_at(at, "multi_head_linear_attention",
            fmt::format("{} heads do not divide the last dims of {}, {}, {}", heads, to_string(q.shape()),
                        to_string(k.shape()), to_string(v.shape())));
  auto feature = [&](const Tensor& t) {  // elu(t) + 1 = t + 1 for t > 0, exp(t) otherwise
    return where(greater(t, scalar(0.0, t.dtype(), loc), loc), add(t, scalar(1.0, t.dtype(), loc), loc),
                 exp(minimum(t, scalar(0.0, t.dtype(), loc), loc), loc), loc);
  };
  Tensor Q = feature(split_heads(q, heads, loc)), K = feature(split_heads(k, heads, loc)), V = split_heads(v, heads, loc);
  Tensor Kt = swap_last(K, loc);
  Tensor numerator = matmul(Q, matmul(Kt, V, loc), loc);
  Tensor normalizer = matmul(Q, sum(Kt, {-1}, true, loc), loc);  // (..., h, t, 1)
  return merge_heads(div(numerator, add(normalizer, scalar(1e-6, q.dtype(), loc), loc), loc), loc);
}

Tensor linear_transformer_block(Params p, Tensor q, Tensor k, Tensor v, int64_t heads, int64_t embed_dim,
                                int64_t mlp_dim, bool with_bias, Loc loc) {
  return detail::in_layer(p, [&] {
    Tensor queries = linear(p["linear"]["queries"], q, embed_dim, with_bias, init::base, loc);
    Tensor keys = linear(p["linear"]["keys"], k, embed_dim, with_bias, init::base, loc);
    Tensor values = linear(p["linear"]["values"], v, embed_dim, with_bias, init::base, loc);
    Tensor z = multi_head_linear_attention(queries, keys, values, heads, loc);
    z = layer_norm(p["layer_norm"][0], add(z, queries, loc), -1, {}, loc);
    Tensor m = mlp(p["mlp"], z, {mlp_dim, embed_dim}, {.activation = relu, .final_activation = nullptr, .with_bias = with_bias}, loc);
    return layer_norm(p["layer_norm"][1], add(z, m, loc), -1, {}, loc);
  });
}

Tensor transformer_block(Params p, Tensor x, int64_t heads, int64_t mlp_dim, const AttentionOptions& o, Loc loc) {
  return detail::in_layer(p, [&] {
    Tensor h = add(x, multi_head_self_attention(p["attention"], layer_norm(p["layer_norm_1"], x, -1, {}, loc), heads, o, loc), loc);
    Tensor m = mlp(p["mlp"], layer_norm(p["layer_norm_2"], h, -1, {}, loc), {mlp_dim, x.shape(-1)},
                   {.activation = gelu, .final_activation = nullptr, .with_bias = o.with_bias}, loc);
    return add(h, m, loc);
  });
}

}  // namespace zephyr::nets
