// Measurement for `zephyr bench`: repeated timings, the machine's FMA peak, resident memory, and
// the baselines (OpenBLAS loaded at run time, PyTorch/LibTorch run as child processes).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace zephyr::cli::bench_support {

/// Seconds over repetitions, after a pause (so earlier work's threads have stopped spinning)
/// and one warm-up call.
struct Stats {
  double min, median, max;
};
/// The min, median and max of samples (at least one).
Stats stats_of(std::vector<double> samples);
/// `reps` samples of f's time; a call shorter than 20 us is timed in a batch of calls lasting
/// about that long, and the sample is the batch's time over its count.
Stats measure(const std::function<void()>& f, int reps);
double seconds(const std::function<void()>& f);

/// GFLOP/s of independent f32 FMA chains on `threads` cores at once (AVX-512, else AVX2):
/// the limit every rate is read against.
double fma_peak_gflops(int threads);
/// One core's read rate, in GB/s, over a block of `bytes` read again and again (STREAM-like: the
/// best of several passes, 16 independent sums so that only the loads limit it). A block that
/// fits in L3 measures L3; a few hundred MB measure DRAM.
double read_gbytes_per_second(size_t bytes);

/// Resident set size and its high-water mark (which reset_peak_rss restarts), in bytes.
double rss_bytes();
double peak_rss_bytes();
void reset_peak_rss();

/// The environment a baseline runs in: its best settings, as on a user's machine. This machine
/// sets OPENBLAS_CORETYPE=Haswell and OPENBLAS_L2_SIZE, which pin OpenBLAS (and PyTorch's BLAS,
/// which is OpenBLAS on Debian) to its AVX2 kernel at half speed; a baseline runs without them.
/// zephyr's own runs, the tests and CI keep the environment as it is.
inline constexpr const char* kBaselinePinning[] = {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"};

/// Removes kBaselinePinning from this process's environment while it lives (for a baseline that
/// loads in-process, like OpenBLAS through dlopen, which reads them when it loads).
class UnpinnedEnvironment {
 public:
  UnpinnedEnvironment();
  ~UnpinnedEnvironment();
  UnpinnedEnvironment(const UnpinnedEnvironment&) = delete;
  UnpinnedEnvironment& operator=(const UnpinnedEnvironment&) = delete;

 private:
  std::map<std::string, std::string> saved_;
};

/// Why OpenBLAS's kernel `corename` (openblas_get_corename()) is not the best one for this CPU,
/// or empty when it is: a baseline on a narrower kernel than the CPU runs would flatter zephyr.
std::string kernel_refusal(const std::string& corename);

/// OpenBLAS's cblas_sgemm, loaded with dlopen so that nothing in zephyr links it, in an
/// UnpinnedEnvironment.
class Blas {
 public:
  Blas();
  bool available() const { return sgemm_ != nullptr; }
  const std::string& kernel() const { return kernel_; }  // openblas_get_corename(), e.g. "Cooperlake"
  void set_threads(int threads) const;
  /// Row-major C = op(A) op(B), op transposing where asked.
  void sgemm(bool trans_a, bool trans_b, int m, int n, int k, const float* a, const float* b, float* c) const;

 private:
  using Sgemm = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
  Sgemm sgemm_ = nullptr;
  void (*set_threads_)(int) = nullptr;
  std::string kernel_;
};

/// A baseline process's rows (name -> seconds) and the OpenBLAS kernel it ran.
struct BaselineRows {
  std::map<std::string, double> seconds;
  std::string kernel;  // empty when the baseline did not say
};

/// Runs `command` (through the shell) and returns its stdout; empty when it fails.
std::string output_of(const std::string& command);

/// Runs `command` and parses its stdout as one JSON object of numbers, plus an optional string
/// "openblas_kernel"; empty when the command fails (baseline not installed).
BaselineRows json_rows_of(const std::string& command);

}  // namespace zephyr::cli::bench_support
