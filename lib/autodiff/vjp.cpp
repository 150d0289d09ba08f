// The VJP rule of every primitive op, grouped as in include/zephyr/op_kinds.def, and the
// reverse sweep that applies them. Rules are written in the DSL, from primitives.
#include "zephyr/autodiff.h"

#include <fmt/format.h>

#include <numeric>
#include <unordered_map>

#include "zephyr/ops.h"

namespace zephyr {
namespace {

Tensor zeros_like(const Node* n) { return full(n->shape, 0.0, n->dtype); }

// Sums a broadcast cotangent back to the operand's shape (numpy broadcasting in reverse).
Tensor unbroadcast(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  int64_t extra = g.ndim() - static_cast<int64_t>(shape.size());
  Axes axes;
  for (int64_t i = 0; i < g.ndim(); ++i)
    if (i < extra || (shape[i - extra] == 1 && g.shape()[i] != 1)) axes.push_back(i);
  return reshape(sum(g, axes), shape);
}

Tensor transpose_last(const Tensor& t) {
  Axes perm(t.ndim());
  std::iota(perm.begin(), perm.end(), 0);
  std::swap(perm[perm.size() - 1], perm[perm.size() - 2]);
  return transpose(t, perm);
}

// Cotangents of n's inputs given the cotangent g of n; an undefined Tensor means "no gradient".
std::vector<Tensor> rule(const NodePtr& node, const Tensor& g) {
  const Node* n = node.get();
  auto x = [&](size_t i) { return Tensor(n->inputs[i]); };
  auto shape = [&](size_t i) -> const Shape& { return n->inputs[i]->shape; };
  Tensor y(node);
  switch (n->op) {
    // Leaves.
    case OpKind::Argument: case OpKind::Constant: case OpKind::Iota: return {};
    // Unary.
    case OpKind::Neg: return {neg(g)};
    case OpKind::Abs: return {where(x(0) >= 0.0, g, neg(g))};
    case OpKind::Exp: return {g * y};
    case OpKind::Log: return {g / x(0)};
    case OpKind::Tanh: return {g * (1.0 - y * y)};
    case OpKind::Sqrt: return {g * 0.5 / y};
    case OpKind::Rsqrt: return {g * -0.5 * y / x(0)};
    case OpKind::Sin: return {g * cos(x(0))};
    case OpKind::Cos: return {neg(g) * sin(x(0))};
    // Binary.
    case OpKind::Add: return {unbroadcast(g, shape(0)), unbroadcast(g, shape(1))};
    case OpKind::Sub: return {unbroadcast(g, shape(0)), unbroadcast(neg(g), shape(1))};
    case OpKind::Mul: return {unbroadcast(g * x(1), shape(0)), unbroadcast(g * x(0), shape(1))};
    case OpKind::Div: return {unbroadcast(g / x(1), shape(0)), unbroadcast(neg(g) * y / x(1), shape(1))};
    case OpKind::Pow:
      return {unbroadcast(g * x(1) * pow(x(0), x(1) - 1.0), shape(0)), unbroadcast(g * y * log(x(0)), shape(1))};
    case OpKind::Maximum: {  // ties go to the first operand
      Tensor first = x(0) >= x(1);
      Tensor zero = full({}, 0.0, g.dtype());
      return {unbroadcast(where(first, g, zero), shape(0)), unbroadcast(where(first, zero, g), shape(1))};
    }
    case OpKind::Minimum: {
      Tensor first = x(0) <= x(1);
      Tensor zero = full({}, 0.0, g.dtype());
      return {unbroadcast(where(first, g, zero), shape(0)), unbroadcast(where(first, zero, g), shape(1))};
    }
    // Comparisons have no gradient.
    case OpKind::Equal: case OpKind::NotEqual: case OpKind::Less: case OpKind::LessEqual:
    case OpKind::Greater: case OpKind::GreaterEqual: return {};
    // Bitwise ops are integer-only.
    case OpKind::BitXor: case OpKind::BitOr: case OpKind::ShiftLeft: case OpKind::ShiftRightLogical: return {};
    case OpKind::Select: {
      Tensor zero = full({}, 0.0, g.dtype());
      return {Tensor(), unbroadcast(where(x(0), g, zero), shape(1)), unbroadcast(where(x(0), zero, g), shape(2))};
    }
    case OpKind::Cast:
      if (!is_float(n->dtype) || !is_float(n->inputs[0]->dtype)) return {};
      return {cast(g, n->inputs[0]->dtype)};
    // Reductions: spread g back over the reduced axes.
    case OpKind::ReduceSum: {
      Shape kept = shape(0);
      for (int64_t a : n->attrs.axes) kept[a] = 1;
      return {broadcast_to(reshape(g, kept), shape(0))};
    }
    case OpKind::ReduceMax: {  // split evenly between tied maxima, as JAX does
      Shape kept = shape(0);
      for (int64_t a : n->attrs.axes) kept[a] = 1;
      Tensor hit = cast(equal(x(0), reshape(y, kept)), g.dtype());
      Tensor count = sum(hit, n->attrs.axes, true);
      return {hit * reshape(g, kept) / count};
    }
    // Contraction (2-D, or batched with equal batch dims).
    case OpKind::MatMul: return {matmul(g, transpose_last(x(1))), matmul(transpose_last(x(0)), g)};
    // Data movement.
    case OpKind::Reshape: return {reshape(g, shape(0))};
    case OpKind::Transpose: {
      Axes inverse(n->attrs.axes.size());
      for (size_t i = 0; i < inverse.size(); ++i) inverse[n->attrs.axes[i]] = static_cast<int64_t>(i);
      return {transpose(g, inverse)};
    }
    case OpKind::BroadcastTo: return {unbroadcast(g, shape(0))};
    case OpKind::Slice: {  // the strided window, padded back to the input's shape
      Shape low = n->attrs.starts, high(low.size()), interior(low.size());
      for (size_t a = 0; a < low.size(); ++a) {
        interior[a] = n->attrs.strides[a] - 1;
        high[a] = shape(0)[a] - (low[a] + (n->shape[a] - 1) * n->attrs.strides[a] + 1);
      }
      return {pad(g, low, high, interior)};
    }
    case OpKind::Concat: {
      std::vector<Tensor> parts;
      int64_t offset = 0;
      for (size_t i = 0; i < n->inputs.size(); ++i) {
        int64_t length = shape(i)[n->attrs.axis];
        parts.push_back(slice(g, n->attrs.axis, offset, offset + length));
        offset += length;
      }
      return parts;
    }
    case OpKind::Pad: {
      Shape steps = n->attrs.interior;
      for (int64_t& s : steps) s += 1;
      return {strided_slice(g, n->attrs.low, shape(0), steps)};
    }
    case OpKind::Reverse: return {reverse(g, n->attrs.axes)};
    // Indexing: take and scatter_add are each other's transpose.
    case OpKind::Gather: return {scatter_add(x(1), g, shape(0)[0]), Tensor()};
    case OpKind::ScatterAdd: return {Tensor(), take(g, x(0))};
  }
  throw Error(fmt::format("[grad] no VJP rule for '{}'", mnemonic(n->op)));
}

}  // namespace

std::vector<Tensor> vjp(const Tensor& output, const Tensor& seed, const std::vector<Tensor>& wrt) {
  std::unordered_map<const Node*, Tensor> cotangent;
  cotangent[output.node().get()] = seed;
  std::vector<const Node*> order = topological_order({output.node()});
  // Owning pointers for every node: the gradient graph keeps the forward values it reads alive.
  std::unordered_map<const Node*, NodePtr> owner{{output.node().get(), output.node()}};
  for (const Node* n : order)
    for (const NodePtr& in : n->inputs) owner.emplace(in.get(), in);
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const Node* n = *it;
    auto found = cotangent.find(n);
    if (found == cotangent.end() || !is_float(n->dtype)) continue;
    std::vector<Tensor> grads = rule(owner.at(n), found->second);
    for (size_t i = 0; i < grads.size(); ++i) {
      if (!grads[i].defined()) continue;
      const Node* input = n->inputs[i].get();
      auto [slot, fresh] = cotangent.try_emplace(input, grads[i]);
      if (!fresh) slot->second = add(slot->second, grads[i]);
    }
  }
  std::vector<Tensor> out;
  for (const Tensor& w : wrt) {
    auto found = cotangent.find(w.node().get());
    out.push_back(found != cotangent.end() ? found->second : zeros_like(w.node().get()));
  }
  return out;
}

}  // namespace zephyr
