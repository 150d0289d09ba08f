// Shape rule of the MatMul primitive, and numpy's matmul composed on top of it.
#include <fmt/format.h>

#include "../primitives/operand.h"
#include "../primitives/primitive.h"
#include "zephyr/ops.h"

namespace zephyr {
namespace {

// The primitive: (m, k) x (k, n) or (b, m, k) x (b, k, n); the composite guarantees this form.
Tensor matmul_primitive(const Tensor& a, const Tensor& b, const SourceLoc& loc) {
  return primitives::build(OpKind::MatMul, {a.node(), b.node()}, {}, loc);
}

Shape concat_shape(Shape head, std::initializer_list<int64_t> tail) {
  head.insert(head.end(), tail);
  return head;
}

}  // namespace

Tensor matmul(const Tensor& a_in, const Tensor& b_in, Loc loc) {
  SourceLoc where = SourceLoc::from(loc);
  if (a_in.ndim() == 0 || b_in.ndim() == 0)
    fail_at(where, "matmul", fmt::format("operands must have rank >= 1, got {} and {}", detail::operand(a_in),
                                         detail::operand(b_in)));
  if (a_in.dtype() != b_in.dtype() || a_in.dtype() == DType::bool_)
    fail_at(where, "matmul", fmt::format("operands must share a numeric dtype, got {} and {}", detail::operand(a_in),
                                         detail::operand(b_in)));
  bool a_vector = a_in.ndim() == 1, b_vector = b_in.ndim() == 1;
  Tensor a = a_vector ? reshape(a_in, {1, a_in.shape(0)}, loc) : a_in;
  Tensor b = b_vector ? reshape(b_in, {b_in.shape(0), 1}, loc) : b_in;
  int64_t m = a.shape(-2), k = a.shape(-1), n = b.shape(-1);
  if (b.shape(-2) != k)
    fail_at(where, "matmul", fmt::format("last dim of lhs {} must equal second-to-last dim of rhs {} ({} vs {})",
                                         detail::operand(a_in), detail::operand(b_in), k, b.shape(-2)));
  Shape a_batch(a.shape().begin(), a.shape().end() - 2);
  Shape b_batch(b.shape().begin(), b.shape().end() - 2);
  Shape batch = broadcast_shapes(a_batch, b_batch, "matmul", where);

  Tensor out;
  if (batch.empty()) {
    out = matmul_primitive(a, b, where);
  } else if (b_batch.empty()) {
    // x @ W with a shared weight: fold the batch into rows, one large 2-D matmul.
    Tensor rows = reshape(a, {numel(batch) * m, k}, loc);
    out = reshape(matmul_primitive(rows, b, where), concat_shape(batch, {m, n}), loc);
  } else {
    int64_t nb = numel(batch);
    Tensor a3 = reshape(broadcast_to(a, concat_shape(batch, {m, k}), loc), {nb, m, k}, loc);
    Tensor b3 = reshape(broadcast_to(b, concat_shape(batch, {k, n}), loc), {nb, k, n}, loc);
    out = reshape(matmul_primitive(a3, b3, where), concat_shape(batch, {m, n}), loc);
  }
  if (a_vector) out = squeeze(out, {-2}, loc);
  if (b_vector) out = squeeze(out, {-1}, loc);
  return out;
}

}  // namespace zephyr
