// Hearing of a jit call's results while the call still runs (Jitted::streamed).
#pragma once

#include <span>
#include <string>

#include "zephyr/array.h"

namespace zephyr {

/// Told of a jit call's results one by one, as the compiled code computes them. A result is final
/// when heard of, while later kernels still run: data-parallel training starts averaging the last
/// layers' gradients over the ranks while the backward pass of the first layers goes on
/// (distributed::StreamingMean). The calls come from the thread that made the jit call.
class ResultListener {
 public:
  virtual ~ResultListener() = default;
  /// Before the code runs: the call's results in the order they are returned (a tuple's elements
  /// in turn, a tree's leaves in its order), allocated but not yet written, and each one's path
  /// in its tree ("" for a plain array). These are the arrays the call returns.
  virtual void start(std::span<const Array> results, std::span<const std::string> paths) = 0;
  /// `results[index]` holds its final value. Every result is told of once before the call
  /// returns; a run-time check that fails throws after that.
  virtual void ready(size_t index) = 0;
  /// Between two kernel calls: a chance to move on what ready() started (polling MPI).
  virtual void between_kernels() {}
};

}  // namespace zephyr
