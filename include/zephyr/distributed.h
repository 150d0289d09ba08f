// Data-parallel training over MPI (Open MPI from Debian): one process per rank, each computing
// the gradients of its shard of a global batch, averaged across ranks before the same update.
//
// No MPI types here: lib/distributed/mpi.cpp is the one file that includes <mpi.h>, and the
// library `zephyr::distributed` the one that links it. A program not started by `mpirun` is rank 0
// of 1 and every collective returns at once, so the same binary runs both ways.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "zephyr/array.h"
#include "zephyr/param_tree.h"
#include "zephyr/result_listener.h"

namespace zephyr::distributed {

/// Joins the MPI job if `mpirun` started this process (MPI is finalized at exit); otherwise the
/// process is alone. Safe to call again. Every other function calls it first.
void init();
/// This process's rank, 0 to size() - 1.
int rank();
/// Number of processes in the job: 1 without mpirun.
int size();
/// Waits for every rank (under the watchdog of collective_timeout()).
void barrier();
/// How long a collective waits for the other ranks before it throws, naming the ranks that have
/// not reached it (they died or hang): the watchdog that keeps a job from waiting forever. The
/// default is 300 seconds, or `ZEPHYR_COLLECTIVE_TIMEOUT` (seconds) when set. A job whose ranks
/// legitimately part for longer (one rank writes a large checkpoint) needs a longer timeout.
/// After a timeout the job cannot go on: end it with end_after_error.
double collective_timeout();
/// Sets collective_timeout() for this process; `seconds` must be positive. Every rank should set
/// the same value.
void set_collective_timeout(double seconds);
/// What a program returns from main after an error: `code` when alone. In a job of several ranks
/// it ends the whole job instead (MPI_Abort with `code`): the other ranks may be waiting in a
/// collective this one will never join, and would wait forever.
int end_after_error(int code);

/// Replaces every leaf by its mean over the ranks: gradients computed on each rank's shard become
/// the gradients of the global batch. Leaves are summed in buckets of about 4 MB (one
/// MPI_Allreduce each), then divided by size(); every rank gets the same bits. Leaves must be
/// f32 or f64 (else the error names the leaf) and agree in paths, dtypes and shapes on every rank
/// (checked: the error names the ranks that differ from rank 0).
void allreduce_mean(ParamTree& tree);
/// Averages a jit call's results over the ranks while the call runs, where allreduce_mean would
/// wait for the call to end: the gradient all-reduce overlaps the backward pass.
///
///     distributed::StreamingMean mean;  // once: it keeps its buckets from call to call
///     auto [grads, loss] = grad_step.streamed(mean, params, shard(x), shard(y));
///     mean.finish();  // grads and loss now hold their means over the ranks
///
/// The results are grouped into buckets of about `bucket_bytes`, from the last result to the
/// first, since a backward pass computes the last layers' gradients first. A bucket's
/// MPI_Iallreduce starts as soon as all its results are computed (and every earlier bucket has
/// started, so that the ranks start them in one order), and MPI is polled between kernels.
/// finish() waits for the rest under the watchdog and writes each mean into the arrays the call
/// returned. Results must be f32 or f64, and agree in paths, dtypes and shapes on every rank:
/// checked (a collective) at the first call and whenever they change. Alone (size() == 1) it
/// leaves the results as they are.
class StreamingMean final : public ResultListener {
 public:
  /// Where the time of the averaging went, summed over the calls.
  struct Stats {
    size_t calls = 0;               ///< calls averaged (finish() calls)
    size_t buckets = 0;             ///< buckets per call, at the last call
    double bytes = 0;               ///< bytes averaged per call, at the last call
    double seconds_during = 0;      ///< in MPI while the call ran: starting buckets, polling
    double seconds_after = 0;       ///< in finish(): the averaging the call's kernels did not hide
  };

  /// Buckets of about `bucket_bytes` (at least 1).
  explicit StreamingMean(size_t bucket_bytes = size_t{1} << 20);
  ~StreamingMean() override;
  StreamingMean(const StreamingMean&) = delete;
  StreamingMean& operator=(const StreamingMean&) = delete;

  void start(std::span<const Array> results, std::span<const std::string> paths) override;
  void ready(size_t index) override;
  void between_kernels() override;
  /// Waits for every bucket and writes the means into the call's results. Call it once after
  /// each streamed call, on every rank.
  void finish();
  /// The buckets, bytes and time of the calls so far.
  const Stats& stats() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// Replaces every leaf by `root`'s: all ranks start from the same parameters.
void broadcast(ParamTree& tree, int root = 0);

/// This rank's rows of a global batch: rows [r·n/N, (r+1)·n/N) of axis 0 for rank r of N. The
/// batch's leading size must be a multiple of size().
Array shard(const Array& global_batch);

// ---- Sharded optimizer state (ZeRO stage 1) ----
// A tree's leaves (f32 only) laid end to end in order and padded with zeros to a multiple of
// size(): rank r's slice is elements [r·L/N, (r+1)·L/N) of that vector. Each rank keeps and
// updates the optimizer state of its slice only; the params stay whole on every rank.

/// This rank's slice of `tree` (no communication).
Array local_slice(const ParamTree& tree);
/// This rank's slice of the mean of `tree` over the ranks (MPI_Reduce_scatter_block, then divided
/// by size()): each rank receives the averaged gradients of the slice it updates, half the bytes
/// of an allreduce_mean. Trees must agree in paths, dtypes and shapes on every rank (checked).
Array reduce_scatter_mean(const ParamTree& tree);
/// Every rank's slice (MPI_Allgather) laid back into the leaves of `tree`, whose structure gives
/// the layout: after each rank updated its slice of the params, every rank holds all of them.
void allgather_slices(const Array& slice, ParamTree& tree);
/// An optimizer state for `params` (slots "mu/<param path>" beside others such as "step") with
/// each slot replaced by this rank's slice of it, "mu/slice": the state of an optimizer updating
/// the tree {"slice": local_slice(params)}. No communication.
ParamTree slice_state(const ParamTree& state, const ParamTree& params);
/// The inverse of slice_state: every slot gathered whole from all ranks (collective), so that a
/// checkpoint holds the same state on any number of ranks.
ParamTree gather_state(const ParamTree& sliced, const ParamTree& params);

/// A hash of every leaf's path, dtype, shape and bytes (FNV-1a, 64 bits): equal on two ranks
/// exactly when their trees are bit-identical, but for collisions.
uint64_t fingerprint(const ParamTree& tree);
/// Throws, naming `what` and the ranks that differ from rank 0, unless every rank holds a
/// bit-identical tree. Collective: every rank must call it.
void check_replicas_agree(const ParamTree& tree, std::string_view what);

}  // namespace zephyr::distributed
