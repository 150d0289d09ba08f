// Which buffer each value of a schedule lives in, and when it is freed (buffer_plan.cpp). Plain
// C++: the JIT's run loop and the ahead-of-time schedule function follow the same plan.
#pragma once

#include <cstddef>
#include <vector>

#include "partition.h"

namespace zephyr::compiler {

struct BufferPlan {
  std::vector<size_t> bytes;                       // per value
  std::vector<int> direct_result;                  // per value: the result it is written into, or -1
  std::vector<std::vector<size_t>> release_after;  // per call: the values freed once it returns
  std::vector<size_t> release_at_end;              // freed after the results are copied out
  /// Per result: whether it is copied out at the end (it is an argument, or a value that is
  /// also another result) rather than written in place by the call that computes it.
  std::vector<bool> copied;
};

/// Results are written in place where they can be: into the caller's memory, by the call that
/// computes them. Every other value is a fresh buffer, freed after the last call that reads it.
BufferPlan plan_buffers(const Schedule& schedule);

}  // namespace zephyr::compiler
