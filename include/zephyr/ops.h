// The op library: free functions over Tensors. Every op validates shapes when called and
// reports errors at the caller's file:line (the defaulted `loc`).
#pragma once

#include <vector>

#include "zephyr/tensor.h"

namespace zephyr {

using Axes = std::vector<int64_t>;

// ---- Leaves ---------------------------------------------------------------------------------
/// A scalar literal broadcast to `shape`.
Tensor full(const Shape& shape, double value, DType dtype = DType::f32, Loc loc = Loc::current());
/// A scalar literal.
Tensor scalar(double value, DType dtype = DType::f32, Loc loc = Loc::current());
/// A dense literal embedded in the compiled code.
Tensor constant(const Array& value, Loc loc = Loc::current());
/// 0, 1, 2... along `axis` of `shape`.
Tensor iota(const Shape& shape, int64_t axis = 0, DType dtype = DType::i32, Loc loc = Loc::current());

// ---- Elementwise (numpy broadcasting; both operands must share a dtype) ----------------------
Tensor add(const Tensor& a, const Tensor& b, Loc loc = Loc::current());
Tensor sub(const Tensor& a, const Tensor& b, Loc loc = Loc::current());
Tensor mul(const Tensor& a, const Tensor& b, Loc loc = Loc::current());
Tensor div(const Tensor& a, const Tensor& b, Loc loc = Loc::current());
Tensor pow(const Tensor& a, const Tensor& b, Loc loc = Loc::current());
Tensor pow(const Tensor& a, double exponent, Loc loc = Loc::current());
Tensor maximum(const Tensor& a, const Tensor& b, Loc loc = Loc::current());
Tensor minimum(const Tensor& a, const Tensor& b, Loc loc = Loc::current());
Tensor neg(const Tensor& x, Loc loc = Loc::current());
Tensor abs(const Tensor& x, Loc loc = Loc::current());
Tensor exp(const Tensor& x, Loc loc = Loc::current());
Tensor log(const Tensor& x, Loc loc = Loc::current());
Tensor tanh(const Tensor& x, Loc loc = Loc::current());
Tensor sqrt(const Tensor& x, Loc loc = Loc::current());
Tensor rsqrt(const Tensor& x, Loc loc = Loc::current());
Tensor sin(const Tensor& x, Loc loc = Loc::current());
Tensor cos(const Tensor& x, Loc loc = Loc::current());
Tensor sigmoid(const Tensor& x, Loc loc = Loc::current());
/// x where x > 0, else 0 (NaN stays NaN). Its slope at 0 is 0 in both modes, as in JAX and PyTorch.
Tensor relu(const Tensor& x, Loc loc = Loc::current());
/// tanh approximation of GELU, as in JAX's default.
Tensor gelu(const Tensor& x, Loc loc = Loc::current());
Tensor square(const Tensor& x, Loc loc = Loc::current());

Tensor equal(const Tensor& a, const Tensor& b, Loc loc = Loc::current());
Tensor not_equal(const Tensor& a, const Tensor& b, Loc loc = Loc::current());
Tensor less(const Tensor& a, const Tensor& b, Loc loc = Loc::current());
Tensor less_equal(const Tensor& a, const Tensor& b, Loc loc = Loc::current());
Tensor greater(const Tensor& a, const Tensor& b, Loc loc = Loc::current());
Tensor greater_equal(const Tensor& a, const Tensor& b, Loc loc = Loc::current());
/// cond ? a : b elementwise; cond is bool; all three broadcast together.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b, Loc loc = Loc::current());
Tensor cast(const Tensor& x, DType dtype, Loc loc = Loc::current());
/// x itself, but no gradient flows through it (jax.lax.stop_gradient): for targets, running
/// statistics, and straight-through estimators `x + stop_gradient(q(x) - x)`.
Tensor stop_gradient(const Tensor& x, Loc loc = Loc::current());

// ---- Bitwise (i32; shifts take a count in [0, 32), logical right shift fills with zeros) -------
Tensor bit_xor(const Tensor& a, const Tensor& b, Loc loc = Loc::current());
Tensor bit_or(const Tensor& a, const Tensor& b, Loc loc = Loc::current());
Tensor shift_left(const Tensor& x, int bits, Loc loc = Loc::current());
Tensor shift_right_logical(const Tensor& x, int bits, Loc loc = Loc::current());

// ---- Reductions (negative axes count from the end; empty axes = all axes) ---------------------
Tensor sum(const Tensor& x, Axes axes = {}, bool keepdims = false, Loc loc = Loc::current());
Tensor max(const Tensor& x, Axes axes = {}, bool keepdims = false, Loc loc = Loc::current());
Tensor mean(const Tensor& x, Axes axes = {}, bool keepdims = false, Loc loc = Loc::current());
/// Population variance (divides by n).
Tensor var(const Tensor& x, Axes axes = {}, bool keepdims = false, Loc loc = Loc::current());
Tensor softmax(const Tensor& x, int64_t axis = -1, Loc loc = Loc::current());
Tensor log_softmax(const Tensor& x, int64_t axis = -1, Loc loc = Loc::current());
Tensor logsumexp(const Tensor& x, Axes axes = {-1}, bool keepdims = false, Loc loc = Loc::current());

// ---- Contraction --------------------------------------------------------------------------
/// numpy matmul: 1-D operands are promoted and squeezed; batch dims broadcast.
Tensor matmul(const Tensor& a, const Tensor& b, Loc loc = Loc::current());

// ---- Data movement ---------------------------------------------------------------------------
/// One extent may be -1 (inferred).
Tensor reshape(const Tensor& x, Shape shape, Loc loc = Loc::current());
/// `perm` empty reverses the axes.
Tensor transpose(const Tensor& x, Axes perm = {}, Loc loc = Loc::current());
Tensor moveaxis(const Tensor& x, int64_t source, int64_t destination, Loc loc = Loc::current());
Tensor broadcast_to(const Tensor& x, const Shape& shape, Loc loc = Loc::current());
Tensor expand_dims(const Tensor& x, int64_t axis, Loc loc = Loc::current());
/// Removes the given size-1 axes (all size-1 axes when empty).
Tensor squeeze(const Tensor& x, Axes axes = {}, Loc loc = Loc::current());
/// x[start:stop:step] along `axis` (negative start/stop count from the end, python-style clamp).
Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t stop, int64_t step = 1,
             Loc loc = Loc::current());
Tensor concat(const std::vector<Tensor>& xs, int64_t axis, Loc loc = Loc::current());
/// Every axis at once: `sizes[i]` elements from `starts[i]`, `strides[i]` apart.
Tensor strided_slice(const Tensor& x, const Shape& starts, const Shape& sizes, const Shape& strides,
                     Loc loc = Loc::current());
/// `low[i]` elements of `value` before axis i, `high[i]` after, `interior[i]` between neighbours
/// (XLA's pad; all counts >= 0). `interior` empty means none.
Tensor pad(const Tensor& x, const Shape& low, const Shape& high, const Shape& interior = {}, double value = 0.0,
           Loc loc = Loc::current());
/// Flips the given axes.
Tensor reverse(const Tensor& x, Axes axes, Loc loc = Loc::current());

// ---- Indexing -------------------------------------------------------------------------------
/// Rows of `table` picked by i32 `ids`: shape ids.shape + table.shape[1:]. Ids outside
/// [0, rows) are clamped by the compiled code (nets::token_embed adds a checked variant).
Tensor take(const Tensor& table, const Tensor& ids, Loc loc = Loc::current());
/// The transpose of take: a (rows, updates.shape[ids.ndim:]) tensor where row r is the sum of
/// the updates whose id is r.
Tensor scatter_add(const Tensor& ids, const Tensor& updates, int64_t rows, Loc loc = Loc::current());

// ---- Windows and convolution (channels-last, composed from the primitives above) ------------
/// Explicit (low, high) padding per spatial axis.
using Padding = std::vector<std::pair<int64_t, int64_t>>;
/// XLA's conv_general_dilated with NHWC / HWIO layouts: x of shape (batch, spatial..., in),
/// w of shape (kernel..., in / groups, out). Lowered as im2col + one matmul per group, so it is
/// exactly as fast as the matmul and its gradient comes from the primitives' rules.
struct ConvSpec {
  Shape strides;         ///< per spatial axis (empty: 1)
  Padding padding;       ///< per spatial axis (empty: none)
  Shape lhs_dilation;    ///< input dilation (conv transpose), empty: 1
  Shape rhs_dilation;    ///< kernel dilation ("rate"), empty: 1
  int64_t groups = 1;    ///< feature_group_count
};
Tensor conv(const Tensor& x, const Tensor& w, const ConvSpec& spec = {}, Loc loc = Loc::current());
/// The (low, high) padding of "SAME" (output extent = ceil(input / stride)) for each spatial axis.
Padding same_padding(const Shape& input, const Shape& window, const Shape& strides, const Shape& dilation = {});
/// Max or sum over windows of x (every axis; window 1 and stride 1 where the axis is not pooled),
/// padding with the reduction's identity.
Tensor window_max(const Tensor& x, const Shape& window, const Shape& strides, const Padding& padding,
                  Loc loc = Loc::current());
Tensor window_sum(const Tensor& x, const Shape& window, const Shape& strides, const Padding& padding,
                  Loc loc = Loc::current());

/// The shape numpy broadcasting gives `a` and `b`; `op` and `loc` name the caller in errors.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op, const SourceLoc& loc);

}  // namespace zephyr
