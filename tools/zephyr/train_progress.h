// `zephyr train`'s progress line: the epoch's bar, the last loss and the epoch's running mean,
// examples per second and the ETA, both measured after the run's first step so that the
// compile in that step does not count as training time.
#pragma once

#include <chrono>
#include <cstdint>

namespace zephyr::cli {

class TrainProgress {
 public:
  /// `quiet`: measure, print nothing. `first_epoch` > 0 when resumed.
  TrainProgress(int epochs, int64_t steps_per_epoch, int first_epoch, int64_t batch_size, bool quiet);

  void start_epoch(int epoch);
  /// After step `step` (0-based within the epoch) with that step's loss.
  void step(int64_t step, double loss);
  void end_epoch();

  /// The mean loss of the epoch's steps so far.
  double mean_loss() const { return steps_ ? loss_sum_ / static_cast<double>(steps_) : 0.0; }
  /// Examples per second over the steps after the run's first, counting only the time spent in
  /// steps (not the first step's compile, nor evaluation and checkpoints between epochs).
  double examples_per_second() const;
  /// The run's first step: tracing, compiling and one step.
  double first_step_seconds() const { return first_step_seconds_; }

 private:
  using Clock = std::chrono::steady_clock;
  void print(int64_t step, double loss) const;
  double training_seconds() const;  // in timed steps so far

  int epochs_;
  int64_t steps_per_epoch_;
  int64_t batch_size_;
  bool quiet_, tty_;
  int epoch_ = 0;
  int64_t steps_ = 0;          // this epoch
  double loss_sum_ = 0;        // this epoch
  int64_t timed_steps_ = 0;    // steps after the run's first
  int64_t remaining_ = 0;      // steps left in the run
  Clock::time_point run_start_ = Clock::now(), segment_start_;  // segment: this epoch's timed steps
  double trained_seconds_ = 0;                                   // in earlier epochs' timed steps
  bool in_epoch_ = false;
  double first_step_seconds_ = 0;
  bool first_done_ = false;
};

/// "1 epoch", "5 epochs".
const char* plural(int64_t n);

}  // namespace zephyr::cli
