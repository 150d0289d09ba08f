// Measurement for `zephyr bench`: repeated timings, the machine's FMA peak, resident memory, and
// the baselines (OpenBLAS loaded at run time, PyTorch/LibTorch run as child processes).
#pragma once

#include <functional>
#include <map>
#include <string>

namespace zephyr::cli::bench_support {

/// Seconds over repetitions, after a pause (so earlier work's threads have stopped spinning)
/// and one warm-up call.
struct Stats {
  double min, median, max;
};
Stats measure(const std::function<void()>& f, int reps);
double seconds(const std::function<void()>& f);

/// GFLOP/s of independent f32 FMA chains on `threads` cores at once (AVX-512, else AVX2):
/// the limit every rate is read against.
double fma_peak_gflops(int threads);

/// Resident set size and its high-water mark (which reset_peak_rss restarts), in bytes.
double rss_bytes();
double peak_rss_bytes();
void reset_peak_rss();

/// OpenBLAS's cblas_sgemm, loaded with dlopen so that nothing in zephyr links it.
class Blas {
 public:
  Blas();
  bool available() const { return sgemm_ != nullptr; }
  void set_threads(int threads) const;
  /// Row-major C = op(A) op(B), op transposing where asked.
  void sgemm(bool trans_a, bool trans_b, int m, int n, int k, const float* a, const float* b, float* c) const;

 private:
  using Sgemm = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
  Sgemm sgemm_ = nullptr;
  void (*set_threads_)(int) = nullptr;
};

/// Runs `command` and parses its stdout as one JSON object of numbers; empty when the command
/// fails (baseline not installed).
std::map<std::string, double> json_rows_of(const std::string& command);

}  // namespace zephyr::cli::bench_support
