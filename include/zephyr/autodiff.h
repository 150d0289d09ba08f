// Reverse-mode automatic differentiation on our own graph.
#pragma once

#include <vector>

#include "zephyr/tensor.h"

namespace zephyr {

/// Vector-Jacobian product: the cotangent of each node in `wrt`, given the cotangent `seed` of
/// `output`. Gradients are ordinary graph nodes (built from primitives), so they are compiled,
/// fused and differentiable like any other value. A node that `output` does not depend on
/// gets zeros of its shape.
std::vector<Tensor> vjp(const Tensor& output, const Tensor& seed, const std::vector<Tensor>& wrt);

}  // namespace zephyr
