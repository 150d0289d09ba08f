// Which buffer each value of a schedule lives in (buffer_plan.cpp). Plain C++: the JIT's run loop
// and the ahead-of-time schedule function follow the same plan.
#pragma once

#include <cstddef>
#include <vector>

#include "partition.h"

namespace zephyr::compiler {

struct BufferPlan {
  static constexpr size_t kAlignment = 64;  // every offset in the arena is a multiple of this

  std::vector<size_t> bytes;        // per value
  std::vector<int> direct_result;   // per value: the result it is written into, or -1
  /// Per value: where in the arena it lives, or -1 (arguments, and results written in place).
  std::vector<long> offset;
  /// One block per run holds every other value. Values whose lifetimes overlap never share bytes;
  /// the others reuse them, so the arena is about the peak of live bytes, not their sum.
  size_t arena_bytes = 0;
  /// Per result: whether it is copied out at the end (it is an argument, or a value that is
  /// also another result) rather than written in place by the call that computes it.
  std::vector<bool> copied;
};

/// Results are written in place where they can be: into the caller's memory, by the call that
/// computes them. Every other value gets a place in the arena for the calls from the one that
/// computes it to the last that reads it (to the end, if it is copied out). Places are assigned
/// greedily, largest value first, at the lowest offset free for its whole lifetime: fresh memory
/// costs page faults (each first-touched MB costs more than a warm kernel reads), so the fewer
/// bytes a run touches, the faster its first call.
BufferPlan plan_buffers(const Schedule& schedule);

}  // namespace zephyr::compiler
