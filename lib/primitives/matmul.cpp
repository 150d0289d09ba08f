// The contraction primitive: (m, k) x (k, n), or (b, m, k) x (b, k, n). numpy's matmul (promotion
// of vectors, broadcast batches) is a composite in lib/ops/matmul.cpp that reduces to this form.
#include <numeric>

#include "host.h"
#include "rules.h"

namespace zephyr::primitives::records {
namespace {

Tensor transpose_last(const Tensor& t) {
  Axes perm(t.ndim());
  std::iota(perm.begin(), perm.end(), 0);
  std::swap(perm[perm.size() - 1], perm[perm.size() - 2]);
  return transpose(t, perm);
}

}  // namespace

extern const Primitive MatMul{
    .attributes = kNoAttrs,
    .elementwise = false, .low_precision = LowPrecision::in_f32,
    .infer = [](const Call& c) {
      expect_operands(c, 2);
      const Tensor a(c.inputs[0]), b(c.inputs[1]);
      if (a.dtype() != b.dtype() || !(a.dtype() == DType::f32 || a.dtype() == DType::f64 || a.dtype() == DType::i32))
        fail_at(c.loc, "matmul", fmt::format("operands must share one of f32, f64, i32 (bf16 and f16 compute in f32), got {} and {}", detail::operand(a),
                                             detail::operand(b)));
      const Shape &s = a.shape(), &t = b.shape();
      const bool batched = s.size() == 3 && t.size() == 3 && s[0] == t[0];
      if (!(s.size() == 2 && t.size() == 2) && !batched)
        fail_at(c.loc, "matmul", fmt::format("the primitive takes (m, k) x (k, n) or (b, m, k) x (b, k, n), got {} and {}",
                                             detail::operand(a), detail::operand(b)));
      if (s.back() != t[t.size() - 2])
        fail_at(c.loc, "matmul", fmt::format("last dim of lhs {} must equal second-to-last dim of rhs {} ({} vs {})",
                                             detail::operand(a), detail::operand(b), s.back(), t[t.size() - 2]));
      Shape out(s.begin(), s.end() - 1);
      out.push_back(t.back());
      return NodeType{a.dtype(), std::move(out)};
    },
    .vjp = [](const NodePtr& n, const Tensor& g) {
      return std::vector<Tensor>{matmul(g, transpose_last(input(n, 1))), matmul(transpose_last(input(n, 0)), g)};
    },
    .jvp = [](const NodePtr& n, std::span<const Tensor> t) {
      Tensor by_a = t[0].defined() ? matmul(t[0], input(n, 1)) : Tensor();
      if (!t[1].defined()) return by_a;
      Tensor by_b = matmul(input(n, 0), t[1]);
      return by_a.defined() ? by_a + by_b : by_b;
    },
    .batch = [](const NodePtr& n, std::span<const Tensor> in, const std::vector<bool>& batched) {
      const int64_t size = batch_size(in, batched);
      const Shape &a = n->inputs[0]->shape, &b = n->inputs[1]->shape;
      if (a.size() == 3) {  // (c, m, k) x (c, k, n) per example: one product per (example, c)
        const int64_t c = a[0], m = a[1], k = a[2], cols = b[2];
        Tensor x = reshape(batched_input(in, batched, 0), {size * c, m, k});
        Tensor y = reshape(batched_input(in, batched, 1), {size * c, k, cols});
        return reshape(matmul(x, y), {size, c, m, cols});
      }
      const int64_t m = a[0], k = a[1], cols = b[1];
      if (batched[0] && batched[1]) return matmul(in[0], in[1]);
      if (batched[0]) return reshape(matmul(reshape(in[0], {size * m, k}), in[1]), {size, m, cols});
      // A shared lhs: the examples' columns side by side, (m, k) x (k, size * cols).
      Tensor columns = reshape(transpose(in[1], {1, 0, 2}), {k, size * cols});
      return transpose(reshape(matmul(in[0], columns), {m, size, cols}), {1, 0, 2});
    },
    .evaluate = [](const Node& n, std::span<const Array> in) {
      const Shape& s = in[0].shape();
      const int64_t batch = s.size() == 3 ? s[0] : 1, m = s[s.size() - 2], k = s.back(), cols = n.shape.back();
      Array out = host::zeros(n.shape);
      const double *a = in[0].data<double>(), *b = in[1].data<double>();
      double* o = out.data<double>();
      for (int64_t z = 0; z < batch; ++z)
        for (int64_t i = 0; i < m; ++i)
          for (int64_t p = 0; p < k; ++p) {
            const double x = a[(z * m + i) * k + p];
            for (int64_t j = 0; j < cols; ++j) o[(z * m + i) * cols + j] += x * b[(z * k + p) * cols + j];
          }
      return out;
    },
};

}  // namespace zephyr::primitives::records
