// The distributed rows of `zephyr bench`: data-parallel training over MPI against one process.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "bench_support.h"

namespace zephyr::cli::bench_support {

/// Milliseconds per training step of `zephyr train --model MODEL` on the same global batch: one
/// process on one thread; two ranks (`mpirun -np 2`) on one thread each, averaging the gradients
/// during the backward pass (the default), after it (`--no-overlap`), and with the optimizer
/// state sliced over the ranks (`--zero`); one process on two threads. Each is the median
/// [min, max] over `runs` runs of one epoch of `limit` examples, from the epoch's examples/s in
/// `--log` (compile and evaluation left out).
struct DistributedSteps {
  Stats one_rank, two_ranks, two_ranks_no_overlap, two_ranks_zero, one_rank_two_threads;
  /// Per step, from the same runs' logs: the all-reduce's time after the backward pass ended,
  /// with and without overlap, and the time in MPI calls between the backward pass's kernels.
  Stats after_backward, after_backward_no_overlap, during_backward;
  int64_t batch = 0;
  double allreduced_bytes = 0;  // gradient bytes each rank all-reduces per step
};

/// Empty, with `skipped` saying why, when mpirun is not installed or the run fails.
std::optional<DistributedSteps> distributed_steps(const std::string& model, const std::string& data_dir,
                                                  int64_t limit, int runs, std::string& skipped);

}  // namespace zephyr::cli::bench_support
