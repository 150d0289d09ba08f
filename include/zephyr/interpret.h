// The reference interpreter: any graph evaluated on host Arrays by the primitives' reference
// evaluations, with no compiler. The oracle the compiled code is tested against, and a way to
// debug a model without compiling it (as jax.disable_jit).
#pragma once

#include <span>
#include <vector>

#include "zephyr/array.h"
#include "zephyr/graph.h"

namespace zephyr {

/// Options of interpret.
struct InterpretOptions {
  /// Keep every float value in f64 instead of rounding each op's result to its dtype: an
  /// oracle whose only error is f64's. Results still come back in their nodes' dtypes.
  bool f64 = false;
};

/// Evaluates `function` (after verifying it) on `arguments`, one per function argument in order,
/// each of its argument's shape and dtype. Results come in the function's order.
std::vector<Array> interpret(const Function& function, std::span<const Array> arguments,
                             const InterpretOptions& options = {});

}  // namespace zephyr
