// Automatic differentiation on our own graph: reverse mode (vjp) and forward mode (jvp).
#pragma once

#include <vector>

#include "zephyr/tensor.h"

namespace zephyr {

/// Vector-Jacobian product: the cotangent of each node in `wrt`, given the cotangent `seed` of
/// `output`. Gradients are ordinary graph nodes (built from primitives), so they are compiled,
/// fused and differentiable like any other value. A node that `output` does not depend on
/// gets zeros of its shape.
std::vector<Tensor> vjp(const Tensor& output, const Tensor& seed, const std::vector<Tensor>& wrt);

/// Jacobian-vector product (forward mode): the tangent of each of `outputs` when each node of
/// `primals` moves in the direction of the matching `tangents` (same shape and dtype). Built from
/// the primitives' JVP rules as ordinary graph nodes. An output that does not depend on the
/// primals gets zeros; integer and bool outputs get zeros too.
std::vector<Tensor> jvp(const std::vector<Tensor>& outputs, const std::vector<Tensor>& primals,
                        const std::vector<Tensor>& tangents);

}  // namespace zephyr
