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

/// The number of examples: the leading extent of the batched inputs (the sweep checks they agree).
int64_t batch_size(std::span<const Tensor> inputs, const std::vector<bool>& batched);

/// `shape` with a leading batch axis of `size`.
Shape with_batch(int64_t size, const Shape& shape);

/// Axes of an example shifted past the batch axis.
Axes after_batch(const Axes& axes);

/// Input i with the batch leading: as given if batched, else broadcast to every example.
Tensor batched_input(std::span<const Tensor> inputs, const std::vector<bool>& batched, size_t i);

/// The node's op over inputs that all carry the batch, with `attrs`, and the node's type with a
/// leading batch axis of `size` as the declared type.
Tensor same_op_batched(const NodePtr& n, const std::vector<Tensor>& inputs, Attrs attrs, int64_t size);

/// The batching rule of an elementwise op (numpy broadcasting): a batched input gets extent-1
/// axes after the batch up to the node's rank, so examples line up with examples and unbatched
/// inputs broadcast across them.
Tensor elementwise_batch(const NodePtr& n, std::span<const Tensor> inputs, const std::vector<bool>& batched);

/// The batching rule of a leaf: it has no inputs, so the sweep never calls it.
Tensor leaf_batch(const NodePtr& n, std::span<const Tensor>, const std::vector<bool>&);

/// Sums a broadcast cotangent back to the operand's shape (numpy broadcasting in reverse).
Tensor unbroadcast(const Tensor& g, const Shape& shape);

/// Sorted, distinct and within the rank: the canonical axes of reductions and flips.
void expect_axes(const Call& c, const Axes& axes, int64_t rank);

}  // namespace zephyr::primitives
