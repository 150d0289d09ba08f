// Helpers the primitive records share: arity checks for shape rules and the reductions that
// VJP rules use to undo broadcasting.
#pragma once

#include <fmt/format.h>

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

/// Sums a broadcast cotangent back to the operand's shape (numpy broadcasting in reverse).
Tensor unbroadcast(const Tensor& g, const Shape& shape);

/// Sorted, distinct and within the rank: the canonical axes of reductions and flips.
void expect_axes(const Call& c, const Axes& axes, int64_t rank);

}  // namespace zephyr::primitives
