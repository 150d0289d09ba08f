// Flash-style attention (Dao et al., 2022): softmax(q kᵀ / √d) v computed one block of keys at a
// time with an online softmax, so no (t, s) matrix of scores is ever stored. Forward and backward
// are each one loop over the key blocks (a scan that keeps only its last carry), and the gradient
// is a custom VJP that recomputes each block's probabilities from the saved log-sum-exp: the
// scan's own VJP would save every step's carry, which is what this avoids. Memory therefore grows
// linearly with the context, as the (t, s) scores of nets::multi_head_attention do not.
//
// A loop of static length computes every block, including the half that causal attention hides.
// Causal self-attention is therefore computed in parts (CausalParts), about half the work: causal
// problems of a block each, and problems without a mask between the halves of ever larger
// segments. One custom VJP covers all of them, so only q, k, v and the final value are saved.
#include <cmath>
#include <limits>

#include "../primitives/primitive.h"
#include "../primitives/region.h"
#include "zephyr/custom_vjp.h"
#include "zephyr/nets/attention.h"

namespace zephyr::nets {
namespace {

using primitives::stand_in;

Tensor swap_last(const Tensor& t) { return moveaxis(t, -1, -2); }

// Large but finite, as apply_attention_mask's: a fully masked block still has a finite maximum.
constexpr double kHidden = -1e9;

// The problem in the form both loops read: (B, t, d) queries, and keys and values side by side
// in blocks along a new leading axis.
struct Problem {
  int64_t batch, t, s, d, e, block, blocks;
  DType dtype;
  double scale;
  Tensor q;       // (B, t, d)
  Tensor kv;      // (blocks, B, block, d + e): keys and values (padding: past s)
  Tensor limit;   // (t, 1): the last key position each query sees
  bool masked;    // some key is hidden from some query (causal, or padding in the last block)
  SourceLoc where;

  // Block i's keys (B, block, d), values (B, block, e) and visibility (B, t, block).
  struct Block {
    Tensor k, v, visible;
  };
  Block block_at(const Tensor& i) const {
    const Tensor x = take(kv, i);  // (B, block, d + e)
    if (!masked) return {slice(x, -1, 0, d), slice(x, -1, d, d + e), Tensor()};
    // The block's key positions, i · block + j, from the step's index: nothing stored per key.
    const Tensor position = cast(i, dtype) * scalar(static_cast<double>(block), dtype) + iota({1, block}, 1, dtype);
    return {slice(x, -1, 0, d), slice(x, -1, d, d + e), broadcast_to(less_equal(position, limit), {batch, t, block})};
  }
  // The block's scores, hidden where not visible. Every key is visible to every query in the
  // unmasked parts of causal attention (their keys fill whole blocks): no mask to build.
  Tensor scores(const Block& b) const {
    const Tensor scores = matmul(q, swap_last(b.k)) * scalar(scale, dtype);
    return masked ? ::zephyr::where(b.visible, scores, scalar(kHidden, dtype)) : scores;
  }
  Tensor indices() const { return iota({blocks}, 0, DType::i32); }
};

// The product of the axes before the last two: the batch of (..., t, d).
int64_t leading_size(const Tensor& x) {
  int64_t n = 1;
  for (int64_t axis = 0; axis < x.ndim() - 2; ++axis) n *= x.shape(axis);
  return n;
}

// Fails, naming the op, the shapes and the user's line, unless q, k, v and the options make a problem.
void check_inputs(const Tensor& q, const Tensor& k, const Tensor& v, const FlashOptions& o, const SourceLoc& where) {
  const char* op = "flash_attention";
  auto leading = [](const Tensor& x) { return Shape(x.shape().begin(), x.shape().end() - 2); };
  if (q.ndim() < 2 || k.ndim() != q.ndim() || v.ndim() != q.ndim() || leading(k) != leading(q) ||
      leading(v) != leading(q) || k.shape(-1) != q.shape(-1) || v.shape(-2) != k.shape(-2))
    fail_at(where, op, fmt::format("q, k and v must be (..., t, d), (..., s, d) and (..., s, e) with equal leading axes, "
                                   "got {}, {} and {}", to_string(q.shape()), to_string(k.shape()), to_string(v.shape())));
  if (q.dtype() != k.dtype() || q.dtype() != v.dtype() || !is_float(q.dtype()))
    fail_at(where, op, fmt::format("q, k and v must share one float dtype, got {}, {} and {}", describe(q.dtype(), q.shape()),
                                   describe(k.dtype(), k.shape()), describe(v.dtype(), v.shape())));
  if (o.key_block < 1) fail_at(where, op, fmt::format("key_block must be at least 1, got {}", o.key_block));
  if (q.shape(-2) == 0 || k.shape(-2) == 0 || q.shape(-1) == 0)
    fail_at(where, op, fmt::format("needs at least one query, key and feature, got q {} and k {}", to_string(q.shape()),
                                   to_string(k.shape())));
}

// q, k and v are checked (check_inputs) and in the loops' dtype (flash_attention) already.
Problem make_problem(const Tensor& q, const Tensor& k, const Tensor& v, const FlashOptions& o, const SourceLoc& where) {
  Problem p;
  p.where = where;
  p.t = q.shape(-2), p.s = k.shape(-2), p.d = q.shape(-1), p.e = v.shape(-1);
  p.batch = leading_size(q);
  p.block = std::min(o.key_block, p.s);
  p.blocks = (p.s + p.block - 1) / p.block;
  p.dtype = q.dtype();
  p.scale = 1.0 / std::sqrt(static_cast<double>(p.d));
  p.q = reshape(q, {p.batch, p.t, p.d});
  const int64_t padded = p.blocks * p.block;
  auto keys = [&](const Tensor& x, int64_t width) {
    return pad(reshape(x, {p.batch, p.s, width}), {0, 0, 0}, {0, padded - p.s, 0});
  };
  const Tensor kv = concat({keys(k, p.d), keys(v, p.e)}, -1);
  p.kv = moveaxis(reshape(kv, {p.batch, p.blocks, p.block, p.d + p.e}), 1, 0);
  const Tensor query = iota({p.t, 1}, 0, p.dtype), last = scalar(static_cast<double>(p.s - 1), p.dtype);
  p.limit = o.is_causal ? minimum(query, last) : broadcast_to(last, {p.t, 1});
  p.masked = o.is_causal || padded != p.s;
  return p;
}

// One loop over the key blocks keeping only its last carry: `step(carry, i)` gives the next.
template <class Step>
Tensor loop(const Problem& p, const Tensor& init, const char* name, Step step) {
  const Tensor carry = stand_in(init.dtype(), init.shape(), fmt::format("flash_attention/{}", name), p.where);
  const Tensor i = stand_in(DType::i32, {}, "flash_attention/block", p.where);
  return primitives::scan_node(init, {p.indices()}, {carry, i}, step(carry, i), false, false, p.where);
}

// (B, t, e + 1): the output and, last, each query's log-sum-exp of its scores.
Tensor forward(const Problem& p) {
  const int64_t e = p.e;
  // The carry: the unnormalized output, the running maximum, the running sum of exponentials.
  const Tensor init = concat({full({p.batch, p.t, e}, 0.0, p.dtype),
                              full({p.batch, p.t, 1}, -std::numeric_limits<double>::infinity(), p.dtype),
                              full({p.batch, p.t, 1}, 0.0, p.dtype)}, -1);
  const Tensor last = loop(p, init, "forward", [&](const Tensor& carry, const Tensor& i) {
    const Tensor acc = slice(carry, -1, 0, e), m = slice(carry, -1, e, e + 1), l = slice(carry, -1, e + 1, e + 2);
    const Problem::Block b = p.block_at(i);
    const Tensor s = p.scores(b);
    const Tensor m_next = maximum(m, max(s, {-1}, true));
    const Tensor probabilities = exp(s - m_next), rescale = exp(m - m_next);
    return concat({acc * rescale + matmul(probabilities, b.v), m_next, l * rescale + sum(probabilities, {-1}, true)}, -1);
  });
  const Tensor l = slice(last, -1, e + 1, e + 2);
  return concat({slice(last, -1, 0, e) / l, slice(last, -1, e, e + 1) + log(l)}, -1);
}

// The cotangents of q (B, t, d), k (B, s, d) and v (B, s, e), given forward's value and its
// cotangent (both (B, t, e + 1)).
std::vector<Tensor> backward(const Problem& p, const Tensor& value, const Tensor& cotangent) {
  const int64_t d = p.d, e = p.e;
  const Tensor out = slice(value, -1, 0, e), lse = slice(value, -1, e, e + 1);
  const Tensor d_out = slice(cotangent, -1, 0, e), d_lse = slice(cotangent, -1, e, e + 1);
  // dL/ds = P ∘ (dP − Σ_j P dP + d_lse), and Σ_j P dP = rowsum(d_out ∘ out).
  const Tensor row_term = sum(d_out * out, {-1}, true) - d_lse;
  // dk and dv accumulate transposed, (d + e, block) per block, as qᵀ·dS and d_outᵀ·P: qᵀ and
  // d_outᵀ are transposed once, outside the loop, where dSᵀ·q and Pᵀ·d_out would transpose two
  // (t, block) matrices every step.
  const Shape dq_shape{p.batch, p.t, d}, dkv_shape{p.blocks, p.batch, d + e, p.block};
  const Tensor init = primitives::pack({full(dq_shape, 0.0, p.dtype), full(dkv_shape, 0.0, p.dtype)});
  const Tensor scale = scalar(p.scale, p.dtype);
  const Tensor q_t = swap_last(p.q), d_out_t = swap_last(d_out);
  const Tensor last = loop(p, init, "backward", [&](const Tensor& carry, const Tensor& i) {
    const Tensor dq = primitives::unpack(carry, {dq_shape, dkv_shape}, 0);
    const Tensor dkv = primitives::unpack(carry, {dq_shape, dkv_shape}, 1);
    const Problem::Block b = p.block_at(i);
    const Tensor probabilities = exp(p.scores(b) - lse);  // 0 where hidden
    const Tensor d_scores = probabilities * (matmul(d_out, swap_last(b.v)) - row_term) * scale;
    const Tensor dkv_block = concat({matmul(q_t, d_scores), matmul(d_out_t, probabilities)}, -2);
    return primitives::pack({dq + matmul(d_scores, b.k), dkv + scatter_add(i, dkv_block, p.blocks)});
  });
  const Tensor dq = primitives::unpack(last, {dq_shape, dkv_shape}, 0);
  // (blocks, B, d + e, block) -> (B, blocks · block, d + e)
  const Tensor dkv = reshape(moveaxis(moveaxis(primitives::unpack(last, {dq_shape, dkv_shape}, 1), 0, 1), -1, 2),
                             {p.batch, p.blocks * p.block, d + e});
  return {dq, slice(slice(dkv, -1, 0, d), 1, 0, p.s), slice(slice(dkv, -1, d, d + e), 1, 0, p.s)};
}

// Two attentions of the same queries over disjoint sets of keys, each (B, t, e + 1) as forward's,
// combined into the attention over both sets: weights from the log-sum-exps.
Tensor merge(const Tensor& a, const Tensor& b, int64_t e) {
  const Tensor lse_a = slice(a, -1, e, e + 1), lse_b = slice(b, -1, e, e + 1);
  const Tensor top = maximum(lse_a, lse_b);
  const Tensor lse = top + log(exp(lse_a - top) + exp(lse_b - top));
  return concat({slice(a, -1, 0, e) * exp(lse_a - lse) + slice(b, -1, 0, e) * exp(lse_b - lse), lse}, -1);
}

// Causal self-attention in parts, which compute about half the blocks that one loop over them all
// would. Split the context into two halves: the first half of the queries sees only the first
// half of the keys, and the second half's keys are seen by the second half's queries causally too
// (two causal problems of half the length), while the second half's queries see every key of the
// first half (a problem without a mask). Splitting each half again, level by level, leaves at the
// bottom 2^levels causal problems of at most a block each, and at level l, 2^l problems without a
// mask, each between the two halves of a segment. Every problem of a level is one batch, read
// from the (padded) context by a reshape.
struct CausalParts {
  int64_t batch, t, levels, padded;

  CausalParts(int64_t batch, int64_t t, int64_t block) : batch(batch), t(t), levels(0) {
    while (ceil_div(t, int64_t{1} << levels) > block) ++levels;
    padded = ceil_div(t, int64_t{1} << levels) << levels;
  }
  static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

  // (B, t, w) rows padded to (B, padded, w) at the end, where causality hides them from every
  // real query (the padded queries' rows are dropped).
  Tensor pad_rows(const Tensor& x) const {
    return padded == t ? x : pad(x, {0, 0, 0}, {0, padded - t, 0});
  }
  Tensor unpad_rows(const Tensor& x) const { return padded == t ? x : slice(x, 1, 0, t); }
  // The bottom level's problems: (B·2^levels, padded / 2^levels, w).
  Tensor bottom(const Tensor& x) const {
    return reshape(x, {batch << levels, padded >> levels, x.shape(-1)});
  }
  // Level l's half `which` (0: first, 1: second) of every segment: (B·2^l, padded / 2^(l+1), w).
  Tensor half(const Tensor& x, int64_t level, int64_t which) const {
    const int64_t segments = batch << level, h = padded >> (level + 1), w = x.shape(-1);
    return reshape(slice(reshape(x, {segments, 2, h, w}), 1, which, which + 1), {segments, h, w});
  }
  // The inverse of half: (B, padded, w) with zeros in the other half of every segment.
  Tensor from_half(const Tensor& x, int64_t level, int64_t which) const {
    const int64_t segments = batch << level, h = padded >> (level + 1), w = x.shape(-1);
    const Tensor one = reshape(x, {segments, 1, h, w});
    return reshape(pad(one, {0, which, 0, 0}, {0, 1 - which, 0, 0}), {batch, padded, w});
  }
};

// (B, t, e + 1): forward's value for causal self-attention (t == s) of (B, t, ·) q, k and v.
Tensor causal_forward(const Tensor& q, const Tensor& k, const Tensor& v, int64_t block, const SourceLoc& where) {
  const CausalParts parts(q.shape(0), q.shape(1), block);
  const Tensor qp = parts.pad_rows(q), kp = parts.pad_rows(k), vp = parts.pad_rows(v);
  const int64_t w = v.shape(2) + 1;
  const FlashOptions causal{.is_causal = true, .key_block = block}, unmasked{.key_block = block};
  // The value of every segment at the level below, from the bottom up: (B·2^l, segment, e + 1).
  Tensor value = forward(make_problem(parts.bottom(qp), parts.bottom(kp), parts.bottom(vp), causal, where));
  for (int64_t level = parts.levels - 1; level >= 0; --level) {
    const Tensor across = forward(make_problem(parts.half(qp, level, 1), parts.half(kp, level, 0),
                                               parts.half(vp, level, 0), unmasked, where));
    const int64_t segments = parts.batch << level, h = parts.padded >> (level + 1);
    const Tensor halves = reshape(value, {segments, 2, h, w});
    const Tensor second = reshape(slice(halves, 1, 1, 2), {segments, h, w});
    value = reshape(concat({slice(halves, 1, 0, 1), reshape(merge(second, across, w - 1), {segments, 1, h, w})}, 1),
                    {segments, 2 * h, w});
  }
  return parts.unpad_rows(reshape(value, {parts.batch, parts.padded, w}));
}

// The cotangents of causal_forward's q, k and v: the sum of every part's. A part's backward loop
// needs only the whole attention's output and log-sum-exp (its probabilities are
// exp(scores - lse)), so the parts' own values are never stored.
std::vector<Tensor> causal_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& value,
                                    const Tensor& cotangent, int64_t block, const SourceLoc& where) {
  const CausalParts parts(q.shape(0), q.shape(1), block);
  // Padded queries have zero output, log-sum-exp and cotangent: they add nothing.
  const Tensor qp = parts.pad_rows(q), kp = parts.pad_rows(k), vp = parts.pad_rows(v);
  const Tensor valuep = parts.pad_rows(value), cotangentp = parts.pad_rows(cotangent);
  const FlashOptions causal{.is_causal = true, .key_block = block}, unmasked{.key_block = block};
  std::vector<Tensor> grads = backward(make_problem(parts.bottom(qp), parts.bottom(kp), parts.bottom(vp), causal, where),
                                       parts.bottom(valuep), parts.bottom(cotangentp));
  for (Tensor& g : grads) g = reshape(g, {parts.batch, parts.padded, g.shape(-1)});
  for (int64_t level = 0; level < parts.levels; ++level) {
    // Each level runs once the levels before it are summed, so one level's terms are alive at a
    // time: in whatever order the schedule ran them, every level's would be (memory t log t).
    auto next = [&](const Tensor& x, int64_t which) {
      Tensor ordered = x;
      for (const Tensor& g : grads) ordered = primitives::build(OpKind::After, {ordered.node(), g.node()}, {}, where);
      return parts.half(ordered, level, which);
    };
    const std::vector<Tensor> across = backward(make_problem(next(qp, 1), next(kp, 0), next(vp, 0), unmasked, where),
                                                next(valuep, 1), next(cotangentp, 1));
    grads[0] = grads[0] + parts.from_half(across[0], level, 1);  // the second halves' queries
    for (size_t i : {1, 2}) grads[i] = grads[i] + parts.from_half(across[i], level, 0);  // the first halves' keys
  }
  for (Tensor& g : grads) g = parts.unpad_rows(g);
  return grads;
}

// Whether causal_forward computes the problem: causal self-attention longer than a block.
bool splits(const Tensor& q, const Tensor& k, const FlashOptions& options) {
  return options.is_causal && q.shape(1) == k.shape(1) && q.shape(1) > options.key_block;
}

}  // namespace

Tensor flash_attention(const Tensor& q, const Tensor& k, const Tensor& v, const FlashOptions& options, Loc loc) {
  const SourceLoc where = SourceLoc::from(loc);
  check_inputs(q, k, v, options, where);
  // (B, t, ·) in the dtype the loops compute in. Key positions are compared as floats: f64 where
  // f32 would stop counting exactly. Padding at most doubles them (a last block, or the context
  // padded for its parts), hence 2 s.
  const int64_t batch = leading_size(q);
  const DType dtype = q.dtype() == DType::f64 || 2 * k.shape(-2) > (int64_t{1} << 24) ? DType::f64 : DType::f32;
  auto flat = [&](const Tensor& x) { return cast(reshape(x, {batch, x.shape(-2), x.shape(-1)}), dtype); };
  const Tensor q3 = flat(q), k3 = flat(k), v3 = flat(v);
  const Tensor value = splits(q3, k3, options) ? causal_forward(q3, k3, v3, options.key_block, where)
                                               : forward(make_problem(q3, k3, v3, options, where));
  // The value is also the rule's last input, so the backward pass reads the saved output and
  // log-sum-exp instead of running the forward loops again; its cotangent is none.
  auto rule = std::make_shared<CustomRule>();
  rule->where = where;
  rule->jvp_through_value = true;  // the loops compute the value: forward mode goes through them
  // The rule reads its problem from the inputs it is given: under vmap they are per-example stand-ins.
  rule->vjp = [options, where](const std::vector<Tensor>& in, const Tensor& cotangent) {
    std::vector<Tensor> grads =
        splits(in[0], in[1], options)
            ? causal_backward(in[0], in[1], in[2], in[3], cotangent, options.key_block, where)
            : backward(make_problem(in[0], in[1], in[2], options, where), in[3], cotangent);
    for (size_t i = 0; i < 3; ++i) grads[i] = cast(reshape(grads[i], in[i].shape()), in[i].dtype());
    grads.push_back(Tensor());
    return grads;
  };
  const Tensor packed = detail::with_custom_vjp({q3, k3, v3, value}, value, std::move(rule));
  Shape shape = q.shape();
  shape.back() = v.shape(-1);
  return cast(reshape(slice(packed, -1, 0, v.shape(-1)), shape), q.dtype());
}

}  // namespace zephyr::nets
