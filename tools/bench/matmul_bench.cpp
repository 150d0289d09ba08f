// f32 matmul through zephyr's compiler against OpenBLAS sgemm in the same run, both with the
// same thread count: ZEPHYR_NUM_THREADS (default: every core).
// Prints GFLOP/s for both and their ratio. Usage: zephyr-bench-matmul [--quick]
#include <cblas.h>
#include <fmt/core.h>
#include <zephyr/zephyr.h>

#include <immintrin.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <vector>

namespace z = zephyr;

namespace {

struct Case {
  int64_t m, k, n;
};

// Best time of `reps` runs after one warm-up: the least noisy estimate on a shared machine.
template <class F>
double best_seconds(F&& run, int reps) {
  run();
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    run();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

// The FMA peak of one core: 12 independent chains of 16-wide f32 FMAs (enough to cover the
// latency on current x86 cores), so the matmul numbers can be read as a fraction of the limit.
__attribute__((target("avx512f,fma"))) double fma_peak_gflops() {
  constexpr int kChains = 12;
  constexpr long kIterations = 20'000'000;
  auto run = []() __attribute__((target("avx512f,fma"))) {
    __m512 acc[kChains];
    const __m512 x = _mm512_set1_ps(1.0000001f), y = _mm512_set1_ps(0.9999999f);
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(float(c));
    // Each chain depends on itself only; floating-point FMAs cannot be folded away.
    for (long i = 0; i < kIterations; ++i)
      for (int c = 0; c < kChains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], x, y);
    float sink = 0;
    for (int c = 0; c < kChains; ++c) sink += _mm512_reduce_add_ps(acc[c]);
    return sink;
  };
  volatile float sink = 0;
  double seconds = best_seconds([&] { sink = run(); }, 3);
  (void)sink;
  return 2.0 * 16 * kChains * kIterations / seconds * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const int threads = z::compiler::default_threads();
  openblas_set_num_threads(threads);
  fmt::print("threads: {} (zephyr and OpenBLAS; set ZEPHYR_NUM_THREADS)\n", threads);
  std::vector<Case> cases = {{256, 256, 256},   {512, 512, 512}, {1024, 1024, 1024}, {128, 784, 512},
                             {128, 512, 10},    {1000, 1000, 1000}};
  if (!quick) cases.push_back({2048, 2048, 2048});

  fmt::print("FMA peak, 1 core: {:.1f} GFLOP/s\n", fma_peak_gflops());
  auto matmul = z::jit([](z::Tensor a, z::Tensor b) { return z::matmul(a, b); });
  fmt::print("{:>18} {:>14} {:>16} {:>8} {:>10}\n", "m x k x n", "zephyr GF/s", "OpenBLAS GF/s", "ratio",
             "max |diff|");
  for (const Case& c : cases) {
    z::Array a = z::random::uniform(z::random::key(1), {c.m, c.k}, z::DType::f32, -1, 1);
    z::Array b = z::random::uniform(z::random::key(2), {c.k, c.n}, z::DType::f32, -1, 1);
    std::vector<float> blas(c.m * c.n);
    double flop = 2.0 * c.m * c.k * c.n;
    int reps = std::max(3, static_cast<int>(std::min(200.0, 2e10 / flop)));
    z::Array out;
    double zt = best_seconds([&] { out = matmul(a, b); }, reps);
    double bt = best_seconds([&] {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c.m, c.n, c.k, 1.0f, a.data<float>(), c.k,
                  b.data<float>(), c.n, 0.0f, blas.data(), c.n);
    }, reps);
    double diff = 0;
    for (int64_t i = 0; i < c.m * c.n; ++i) diff = std::max(diff, std::abs(double(out.data<float>()[i]) - blas[i]));
    fmt::print("{:>18} {:>14.1f} {:>16.1f} {:>8.2f} {:>10.2g}\n", fmt::format("{}x{}x{}", c.m, c.k, c.n),
               flop / zt * 1e-9, flop / bt * 1e-9, bt / zt, diff);
  }
  fmt::print("FMA peak, 1 core, after: {:.1f} GFLOP/s\n", fma_peak_gflops());
  return 0;
}
