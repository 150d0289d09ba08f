#include "bench_support.h"

#include <dlfcn.h>
#include <fmt/core.h>
#include <immintrin.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <set>
#include <thread>
#include <vector>

namespace zephyr::cli::bench_support {

double seconds(const std::function<void()>& f) {
  auto t = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// How many calls one sample times together: one, or for calls shorter than kMinSampleSeconds
// enough to last that long. Two clock reads cost ~17 ns on this VM, 6 % of a tiny model's call,
// and are no part of the call (tools/bench/libtorch_baseline.cpp samples its calls the same way).
constexpr double kMinSampleSeconds = 20e-6;
int calls_per_sample(const std::function<void()>& f) {
  double once = seconds(f);
  for (int i = 0; i < 2; ++i) once = std::min(once, seconds(f));
  return once >= kMinSampleSeconds ? 1 : static_cast<int>(std::ceil(kMinSampleSeconds / std::max(once, 1e-9)));
}

Stats measure(const std::function<void()>& f, int reps) {
  // Idle OpenMP and OpenBLAS workers spin for a while (libomp: 200 ms) after their last job:
  // let the previous measurement's threads go to sleep before timing anything else.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  f();
  const int batch = calls_per_sample(f);
  std::vector<double> times;
  for (int i = 0; i < reps; ++i)
    times.push_back(seconds([&] {
                      for (int j = 0; j < batch; ++j) f();
                    }) /
                    batch);
  return stats_of(std::move(times));
}

Stats stats_of(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  return {samples.front(), samples[samples.size() / 2], samples.back()};
}

namespace {

constexpr int kChains = 16;  // more independent FMAs in flight than latency x ports (measured: 12 gives 97%)
constexpr long kIterations = 10'000'000;

// The chains' lanes, summed: what keeps the loops' work from being optimized away.
__attribute__((target("avx2"))) float sum_of_chains(const __m256 (&acc)[kChains]) {
  alignas(32) float lanes[8];
  float sink = 0;
  for (int c = 0; c < kChains; ++c) {
    _mm256_store_ps(lanes, acc[c]);
    for (float v : lanes) sink += v;
  }
  return sink;
}

// Each chain depends only on itself, and floating-point FMAs cannot be folded away.
__attribute__((target("avx512f"))) float fma_chains_avx512() {
  __m512 acc[kChains];
  const __m512 x = _mm512_set1_ps(1.0000001f), y = _mm512_set1_ps(0.9999999f);
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(float(c));
  for (long i = 0; i < kIterations; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], x, y);
  float sink = 0;
  for (int c = 0; c < kChains; ++c) sink += _mm512_reduce_add_ps(acc[c]);
  return sink;
}

__attribute__((target("avx2,fma"))) float fma_chains_avx2() {
  __m256 acc[kChains];
  const __m256 x = _mm256_set1_ps(1.0000001f), y = _mm256_set1_ps(0.9999999f);
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(float(c));
  for (long i = 0; i < kIterations; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], x, y);
  return sum_of_chains(acc);
}

__attribute__((target("avx512f"))) float read_sum_avx512(const float* p, size_t n) {
  __m512 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_setzero_ps();
  for (size_t i = 0; i + 16 * kChains <= n; i += 16 * kChains)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_add_ps(acc[c], _mm512_load_ps(p + i + 16 * c));
  float sink = 0;
  for (int c = 0; c < kChains; ++c) sink += _mm512_reduce_add_ps(acc[c]);
  return sink;
}

__attribute__((target("avx2"))) float read_sum_avx2(const float* p, size_t n) {
  __m256 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_setzero_ps();
  for (size_t i = 0; i + 8 * kChains <= n; i += 8 * kChains)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_add_ps(acc[c], _mm256_load_ps(p + i + 8 * c));
  return sum_of_chains(acc);
}

long statm_pages(int field) {
  std::ifstream statm("/proc/self/statm");
  long value = 0;
  for (int i = 0; i <= field; ++i) statm >> value;
  return value;
}

}  // namespace

double fma_peak_gflops(int threads) {
  const bool avx512 = __builtin_cpu_supports("avx512f");
  const int lanes = avx512 ? 16 : 8;
  double best = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    std::vector<float> sinks(threads);
    double t = seconds([&] {
      std::vector<std::thread> pool;
      for (int i = 0; i < threads; ++i)
        pool.emplace_back([&, i] { sinks[i] = avx512 ? fma_chains_avx512() : fma_chains_avx2(); });
      for (auto& th : pool) th.join();
    });
    best = std::min(best, t);
  }
  return 2.0 * lanes * kChains * kIterations * threads / best * 1e-9;
}

double read_gbytes_per_second(size_t bytes) {
  const size_t chunk = 16 * kChains;  // floats per step of the loops above
  const size_t n = std::max<size_t>(bytes / sizeof(float) / chunk, 1) * chunk;
  std::unique_ptr<float, decltype(&std::free)> block(static_cast<float*>(std::aligned_alloc(64, n * sizeof(float))),
                                                     &std::free);
  std::fill_n(block.get(), n, 1.0f);  // faults the pages in: the passes below only read
  const bool avx512 = __builtin_cpu_supports("avx512f");
  // Passes enough to take about 50 ms in all, whatever the block's size.
  const int passes = static_cast<int>(std::clamp<size_t>((size_t{2} << 30) / bytes, 3, 2000));
  volatile float sink = 0;
  double best = 1e30;
  for (int pass = 0; pass < passes; ++pass)
    best = std::min(best, seconds([&] { sink = avx512 ? read_sum_avx512(block.get(), n) : read_sum_avx2(block.get(), n); }));
  return static_cast<double>(n * sizeof(float)) / best * 1e-9;
}

double rss_bytes() { return static_cast<double>(statm_pages(1)) * static_cast<double>(sysconf(_SC_PAGESIZE)); }

double peak_rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.starts_with("VmHWM:")) return std::stod(line.substr(6)) * 1024.0;  // in kB
  return 0;
}

void reset_peak_rss() {
  // Writing 5 to clear_refs restarts VmHWM from the current RSS (Linux 4.0+).
  std::ofstream("/proc/self/clear_refs") << "5";
}

UnpinnedEnvironment::UnpinnedEnvironment() {
  for (const char* name : kBaselinePinning)
    if (const char* value = std::getenv(name)) {
      saved_[name] = value;
      unsetenv(name);
    }
}

UnpinnedEnvironment::~UnpinnedEnvironment() {
  for (const auto& [name, value] : saved_) setenv(name.c_str(), value.c_str(), 1);
}

std::string kernel_refusal(const std::string& corename) {
  std::string lower;
  for (char c : corename) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // OpenBLAS 0.3.21's AVX-512 kernels; on such a CPU anything else (Haswell, Zen, ...) is AVX2 or less.
  static const std::set<std::string> avx512_kernels = {"skylakex", "cooperlake", "sapphirerapids"};
  if (__builtin_cpu_supports("avx512f") && !avx512_kernels.contains(lower))
    return fmt::format("its {} kernel is not AVX-512 on an AVX-512 CPU (is OPENBLAS_CORETYPE set?)", corename);
  return "";
}

Blas::Blas() {
  UnpinnedEnvironment unpinned;  // OpenBLAS picks its kernel when it loads
  void* library = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
  if (!library) return;
  sgemm_ = reinterpret_cast<Sgemm>(dlsym(library, "cblas_sgemm"));
  set_threads_ = reinterpret_cast<void (*)(int)>(dlsym(library, "openblas_set_num_threads"));
  if (!set_threads_) sgemm_ = nullptr;
  if (auto corename = reinterpret_cast<const char* (*)()>(dlsym(library, "openblas_get_corename")))
    kernel_ = corename();
}

void Blas::set_threads(int threads) const { set_threads_(threads); }

void Blas::sgemm(bool trans_a, bool trans_b, int m, int n, int k, const float* a, const float* b, float* c) const {
  constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;  // the CBLAS enum values
  sgemm_(kRowMajor, trans_a ? kTrans : kNoTrans, trans_b ? kTrans : kNoTrans, m, n, k, 1.0f, a, trans_a ? m : k, b,
         trans_b ? k : n, 0.0f, c, n);
}

std::string output_of(const std::string& command) {
  std::FILE* pipe = popen((command + " 2>/dev/null").c_str(), "r");
  if (!pipe) return {};
  std::string out;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
  if (pclose(pipe) != 0) return {};
  return out;
}

BaselineRows json_rows_of(const std::string& command) {
  const std::string out = output_of(command);
  if (out.empty()) return {};
  BaselineRows rows;
  const nlohmann::json parsed = nlohmann::json::parse(out);  // items() refers to it: keep it alive
  for (const auto& [key, value] : parsed.items()) {
    if (key == "openblas_kernel")
      rows.kernel = value.is_string() ? value.get<std::string>() : "";
    else
      rows.seconds[key] = value.get<double>();
  }
  return rows;
}

}  // namespace zephyr::cli::bench_support
