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

/// The shape numpy broadcasting gives `a` and `b`; `op` and `loc` name the caller in errors.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op, const SourceLoc& loc);

}  // namespace zephyr
