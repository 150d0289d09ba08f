#include "train_progress.h"

#include <fmt/core.h>
#include <unistd.h>

#include <cstdio>

namespace zephyr::cli {
namespace {

double seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }

// "1:05:09", "4:12": hours only when there are any.
std::string clock_time(double s) {
  auto total = static_cast<int64_t>(s + 0.5);
  if (total >= 3600) return fmt::format("{}:{:02}:{:02}", total / 3600, total / 60 % 60, total % 60);
  return fmt::format("{}:{:02}", total / 60, total % 60);
}

}  // namespace

const char* plural(int64_t n) { return n == 1 ? "" : "s"; }

TrainProgress::TrainProgress(int epochs, int64_t steps_per_epoch, int first_epoch, int64_t batch_size, bool quiet)
    : epochs_(epochs),
      steps_per_epoch_(steps_per_epoch),
      batch_size_(batch_size),
      quiet_(quiet),
      tty_(isatty(STDOUT_FILENO)),
      remaining_(steps_per_epoch * (epochs - first_epoch)) {}

void TrainProgress::start_epoch(int epoch) {
  epoch_ = epoch;
  steps_ = 0;
  loss_sum_ = 0;
  segment_start_ = Clock::now();
  in_epoch_ = true;
}

void TrainProgress::step(int64_t step, double loss) {
  ++steps_;
  loss_sum_ += loss;
  --remaining_;
  if (!first_done_) {
    first_done_ = true;
    first_step_seconds_ = seconds(Clock::now() - run_start_);
    segment_start_ = Clock::now();
  } else {
    ++timed_steps_;
  }
  if (quiet_) return;
  // On a terminal the line is redrawn in place; in a log (CI) it is printed at each quarter.
  bool quarter = steps_per_epoch_ >= 4 && (step + 1) % (steps_per_epoch_ / 4) == 0;
  if (tty_ || quarter || step == 0 || step + 1 == steps_per_epoch_) print(step, loss);
}

double TrainProgress::training_seconds() const {
  return trained_seconds_ + (in_epoch_ ? seconds(Clock::now() - segment_start_) : 0.0);
}

double TrainProgress::examples_per_second() const {
  double s = training_seconds();
  return timed_steps_ && s > 0 ? static_cast<double>(timed_steps_ * batch_size_) / s : 0.0;
}

void TrainProgress::print(int64_t step, double loss) const {
  const int width = 24;
  int filled = static_cast<int>(width * (step + 1) / steps_per_epoch_);
  std::string speed;
  if (timed_steps_ == 0) {
    speed = fmt::format("first step (trace + compile) {:.1f} s", first_step_seconds_);
  } else {
    double per_step = training_seconds() / static_cast<double>(timed_steps_);
    speed = fmt::format("{:>7.0f} ex/s  ETA {}", examples_per_second(), clock_time(per_step * remaining_));
  }
  fmt::print("{}epoch {}/{} [{:=<{}}{:<{}}] step {:>4}/{} loss {:.4f} (mean {:.4f})  {}{}", tty_ ? "\r\033[K" : "",
             epoch_ + 1, epochs_, "", filled, "", width - filled, step + 1, steps_per_epoch_, loss, mean_loss(), speed,
             tty_ ? "" : "\n");
  std::fflush(stdout);
}

void TrainProgress::end_epoch() {
  trained_seconds_ = training_seconds();
  in_epoch_ = false;
  if (!quiet_ && tty_) fmt::print("\n");
}

}  // namespace zephyr::cli
