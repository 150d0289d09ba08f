// Helpers the primitive records share: arity checks for shape rules and the reductions that
// VJP rules use to undo broadcasting.
#pragma once

#include <fmt/format.h>

#include <span>
#include <vector>

#include "operand.h"
#include "primitive.h"
#include "zephyr/ops.h"

namespace zephyr::primitives {

/// Fails unless the call has `count` operands.
inline void expect_operands(const Call& c, size_t count) {
  if (c.inputs.size() != count)
    fail_at(c.loc, mnemonic(c.op), fmt::format("takes {} operand{}, got {}", count, count == 1 ? "" : "s", c.inputs.size()));
}

/// The type of operand `i`.
inline const Node& operand_node(const Call& c, size_t i) { return *c.inputs[i]; }

/// The node's input `i` as a Tensor, for VJP rules.
inline Tensor input(const NodePtr& n, size_t i) { return Tensor(n->inputs[i]); }

/// The VJP of an op nothing flows back through (leaves, integer and bitwise ops, stop_gradient):
/// no cotangent for any input.
inline std::vector<Tensor> no_gradient(const NodePtr&, const Tensor&) { return {}; }

/// The JVP of an op whose result carries no tangent (leaves, integer and bool results,
/// stop_gradient).
inline Tensor no_tangent(const NodePtr&, std::span<const Tensor>) { return {}; }

/// Tangent `i`, or zeros of input i's type where it has none (a JVP rule gets at least one).
Tensor tangent(const NodePtr& n, std::span<const Tensor> t, size_t i);

/// The JVP of a unary elementwise op: its Jacobian is diagonal, so J·t = Jᵀ·t, which is the
/// op's own VJP rule applied to the tangent.
Tensor diagonal_jvp(const NodePtr& n, std::span<const Tensor> t);

/// The node's op, attributes and type applied to other inputs: the JVP of an op that is linear
/// in the inputs given (data movement, sums, gathers), with missing tangents as zeros.
Tensor same_op(const NodePtr& n, std::vector<Tensor> inputs);

/// Sums a broadcast cotangent back to the operand's shape (numpy broadcasting in reverse).
Tensor unbroadcast(const Tensor& g, const Shape& shape);

/// Sorted, distinct and within the rank: the canonical axes of reductions and flips.
void expect_axes(const Call& c, const Axes& axes, int64_t rank);

}  // namespace zephyr::primitives
