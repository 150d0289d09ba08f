// Graph -> kernels and a schedule: the compile unit becomes the kernel, not the model.
// Plain C++ (no MLIR): the partition is decided on our graph, and each kernel is an ordinary
// Function that the lowering pipeline compiles on its own.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "zephyr/graph.h"

namespace zephyr::compiler {

/// One call of the schedule: kernel `kernel` reads values `inputs` and writes values `outputs`
/// (most kernels write one; see "siblings" below for those that write several).
struct KernelCall {
  size_t kernel;
  std::vector<size_t> inputs;
  std::vector<size_t> outputs;
  std::string origin;  // the op that computes `outputs[0]` and the user's line: "matmul at model.cpp:12:7"
};

/// A function as a flat list of kernel calls over values. Values 0..arguments-1 are the
/// function's arguments; every other value is the output of exactly one call.
struct Schedule {
  struct Value {
    Shape shape;
    DType dtype;
  };
  size_t arguments = 0;
  std::vector<Value> values;
  /// The distinct kernels: structurally equal ones (same ops, shapes, dtypes, attributes) are one
  /// entry, whichever nodes, parameters or source lines they came from. Each is named
  /// "zk_<hash of its key>" and takes its inputs, then its outputs, as pointers.
  std::vector<Function> kernels;
  std::vector<std::string> keys;  // per kernel: its structural key (what the compile cache keys on)
  std::vector<KernelCall> calls;  // in an order that respects dependencies
  std::vector<size_t> results;    // per function result: the value it is
};

/// Splits `function` into kernels at the values that today's fusion materializes anyway: values
/// with several users, and the function's results. Everything else (a single-use producer) stays
/// in its consumer's kernel, where the pipeline fuses it as before; constants, comparisons (fused
/// into each user, as the pipeline recomputes them) and views of materialized values are copied
/// into every kernel that uses them. A reshape that would be a kernel's output is such a view of
/// its operand, which is stored instead (no copy). So each fusion group lies inside one kernel.
///
/// Siblings: an elementwise value read only inside one elementwise kernel of its own shape is
/// computed in that kernel too, in the same loop, and written by it as a second output if it is a
/// result. Adam's step is the case it is for: the new moments m and v are results that the
/// parameter's update reads, so one pass reads p, g, m, v and writes p, m, v, where three kernels
/// read and wrote ten arrays.
struct PartitionOptions {
  bool locations = false;  // give each kernel the source locations of its first instance (IR dumps)
  bool every_op = false;   // one op per kernel (ZEPHYR_DEBUG_NANS: each op's result is checked)
};
Schedule partition(const Function& function, const PartitionOptions& options = {});

/// Reorders `schedule`'s calls (partition does it last) so that a call runs as soon as its inputs
/// exist if that takes no more arena bytes than it gives back: its output is a function result,
/// or no larger than the inputs it is the last to read. The depth-first order puts every weight
/// gradient of a backward pass at the end, keeping each layer's cotangent alive until then; this
/// runs each as soon as its layer's cotangent is ready. Everything else keeps its order, so a
/// call that must wait (checkpoint's recomputation, behind its `after` edge) still waits.
void order_for_memory(Schedule& schedule);

/// What a kernel computes, as bytes: ops, dtypes, shapes, attributes and the wiring between them,
/// arguments by position. Node identities, argument names and source locations are left out.
std::string structural_key(const Function& kernel);

}  // namespace zephyr::compiler
