#include "bench.h"

#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <cstdlib>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>
#include <zephyr/zephyr.h>

#include "bench_distributed.h"
#include "bench_support.h"
#include "models.h"
#include "train.h"

namespace zephyr::cli {
namespace {

using namespace bench_support;

// One goal of the performance issue: zephyr's median (with min and max) against a baseline
// measured in the same run, or against a budget.
struct Row {
  std::string name;
  int threads;
  std::string unit;  // ms, s, MB, x: lower is better; GFLOP/s, accuracy: higher is better
  Stats zephyr;
  double baseline;  // NaN when the baseline is not installed
  std::string baseline_name;
  double goal;         // the speedup the issue asks for
  double flop = 0;     // per call, for the share of the FMA peak (0: not a compute row)
  std::string kernel;  // the OpenBLAS kernel the baseline ran (empty: none, or a budget)
  bool higher_is_better() const { return unit == "GFLOP/s" || unit == "GB/s" || unit == "accuracy"; }
  double speedup() const { return higher_is_better() ? zephyr.median / baseline : baseline / zephyr.median; }
};

class Bench {
 public:
  explicit Bench(const BenchOptions& o) : o_(o) {}

  bool wants(const std::string& group) const {
    auto has = [&](const std::vector<std::string>& groups) {
      return std::find(groups.begin(), groups.end(), group) != groups.end();
    };
    return (o_.only.empty() || has(o_.only)) && !has(o_.skip);
  }
  int reps(int full) const { return o_.quick ? std::max(3, full / 5) : full; }

  void add(Row row) {
    print(row);
    rows_.push_back(std::move(row));
  }
  const std::vector<Row>& rows() const { return rows_; }
  const BenchOptions& options() const { return o_; }
  double peak(int threads) const { return threads == 1 ? peak1_ : peak2_; }
  void measure_peaks() {
    peak1_ = fma_peak_gflops(1);
    peak2_ = fma_peak_gflops(2);
  }

  static void print_header() {
    fmt::print("{:<30} {:>3} {:>26} {:>10}  {:<14} {:>7} {:>5} {:>6}\n", "row", "thr", "zephyr median [min, max]",
               "baseline", "baseline of", "speedup", "goal", "%peak");
  }

 private:
  void print(const Row& r) const {
    const double rate = r.unit == "GFLOP/s" ? r.zephyr.median : r.flop > 0 ? r.flop / (r.zephyr.median * 1e-3) * 1e-9 : 0;
    std::string share = rate > 0 ? fmt::format("{:.0f}%", 100 * rate / peak(r.threads)) : "";
    std::string verdict = std::isnan(r.speedup()) ? "" : r.speedup() >= r.goal ? " met" : " NOT MET";
    // Nothing runs faster than the FMA peak: a share above it means the row's FLOP count is wrong.
    if (rate > 1.02 * peak(r.threads)) verdict += " ABOVE THE FMA PEAK (wrong FLOP count?)";
    fmt::print("{:<30} {:>3} {:>9.4g} [{:.4g}, {:.4g}] {:<3} {:>9.4g}  {:<14} {:>7.2f} {:>5.2f} {:>6}{}\n", r.name,
               r.threads, r.zephyr.median, r.zephyr.min, r.zephyr.max, r.unit, r.baseline, r.baseline_name,
               r.speedup(), r.goal, share, verdict);
    std::fflush(stdout);
  }

  const BenchOptions& o_;
  std::vector<Row> rows_;
  double peak1_ = 0, peak2_ = 0;
};

Stats scaled(Stats s, double factor) { return {s.min * factor, s.median * factor, s.max * factor}; }

// ---- matmul against OpenBLAS, including the transposed products of the backward pass ----

struct MatmulCase {
  int64_t m, k, n;
  bool trans_a = false, trans_b = false;
  std::string name() const {
    std::string prefix = trans_a ? "matmul_tn_" : trans_b ? "matmul_nt_" : "matmul_";
    return m == k && k == n ? fmt::format("{}{}", prefix, m) : fmt::format("{}{}x{}x{}", prefix, m, k, n);
  }
};

// A baseline whose OpenBLAS kernel is not the CPU's best is refused rather than compared with.
struct Baseline {
  double value;       // NaN when missing or refused
  std::string label;  // "openblas", "pytorch missing", "pytorch refused", ...
  std::string kernel;
};

Baseline baseline_of(const BaselineRows& rows, const std::string& key, const std::string& name) {
  auto it = rows.seconds.find(key);
  if (it == rows.seconds.end()) return {NAN, name + " missing", ""};
  if (!kernel_refusal(rows.kernel).empty()) return {NAN, name + " refused", rows.kernel};
  return {it->second, name, rows.kernel};
}

// Says once per baseline process which OpenBLAS kernel it ran, and why a row is refused.
void report_kernel(const std::string& baseline, const std::string& kernel) {
  if (kernel.empty()) return;
  std::string refusal = kernel_refusal(kernel);
  if (refusal.empty())
    fmt::print("{}: OpenBLAS kernel {}\n", baseline, kernel);
  else
    fmt::print("{}: refused, {}\n", baseline, refusal);
}

// The Run time issue's goal: at least 1.1x OpenBLAS at every shape, on 1 and 2 threads.
constexpr double kMatmulGoal = 1.1;

void matmul_rows(Bench& bench, const Blas& blas, int threads) {
  std::vector<MatmulCase> cases = {{256, 256, 256},    {512, 512, 512},         {1024, 1024, 1024},
                                   {128, 784, 512},    {128, 512, 10},          {1000, 1000, 1000},
                                   {784, 128, 512, true}, {128, 512, 784, false, true},
                                   {1024, 1024, 1024, true}, {1024, 1024, 1024, false, true}};
  if (!bench.options().quick) cases.push_back({2048, 2048, 2048});
  compiler::Options options;
  options.threads = threads;
  auto nn = jit([](Tensor a, Tensor b) { return matmul(a, b); }, options);
  auto tn = jit([](Tensor a, Tensor b) { return matmul(transpose(a), b); }, options);
  auto nt = jit([](Tensor a, Tensor b) { return matmul(a, transpose(b)); }, options);
  const bool blas_usable = blas.available() && kernel_refusal(blas.kernel()).empty();
  if (blas.available()) blas.set_threads(threads);
  for (const MatmulCase& c : cases) {
    Shape a_shape = c.trans_a ? Shape{c.k, c.m} : Shape{c.m, c.k};
    Shape b_shape = c.trans_b ? Shape{c.n, c.k} : Shape{c.k, c.n};
    Array a = random::uniform(random::key(1), a_shape, DType::f32, -1, 1);
    Array b = random::uniform(random::key(2), b_shape, DType::f32, -1, 1);
    const double flop = 2.0 * c.m * c.k * c.n;
    const int reps = bench.reps(std::max(5, static_cast<int>(std::min(200.0, 2e10 / flop))));
    Array out;
    Stats t = measure([&] { out = c.trans_a ? tn(a, b) : c.trans_b ? nt(a, b) : nn(a, b); }, reps);
    double baseline = NAN;
    if (blas_usable) {
      std::vector<float> expected(c.m * c.n);
      auto call = [&] {
        blas.sgemm(c.trans_a, c.trans_b, c.m, c.n, c.k, a.data<float>(), b.data<float>(), expected.data());
      };
      baseline = flop / measure(call, reps).median * 1e-9;
      double diff = 0;
      for (int64_t i = 0; i < c.m * c.n; ++i) diff = std::max(diff, std::abs(double(out.data<float>()[i]) - expected[i]));
      if (diff > 1e-3 * std::sqrt(double(c.k)))
        throw Error(fmt::format("[bench] {}: zephyr and OpenBLAS differ by {}", c.name(), diff));
    }
    // Rates: the best time is the highest rate, so min and max swap.
    Stats rate{flop / t.max * 1e-9, flop / t.median * 1e-9, flop / t.min * 1e-9};
    bench.add({fmt::format("{}_t{}", c.name(), threads), threads, "GFLOP/s", rate, baseline,
               blas_usable ? "openblas" : blas.available() ? "openblas refused" : "openblas missing",
               kMatmulGoal, 0, blas.kernel()});
  }
}

// ---- training steps, inference and compile times against PyTorch / LibTorch ----

Tensor tiny_mlp(Params p, Tensor x) { return nets::mlp(p, x, {64, 64}); }

// Baselines run at their best: OpenBLAS free to pick its kernel (kBaselinePinning removed), both
// thread pools pinned (they fight over two cores otherwise), and glibc told to keep freed memory,
// without which a CNN step's large buffers are mmapped and faulted in afresh every call
// (measured: PyTorch's CNN step 22 ms with, 47-85 ms without).
std::string baseline_environment(int omp, int blas) {
  std::string unset;
  for (const char* name : kBaselinePinning) unset += fmt::format("-u {} ", name);
  return fmt::format("env {}OMP_NUM_THREADS={} OPENBLAS_NUM_THREADS={} MALLOC_MMAP_THRESHOLD_=1000000000 "
                     "MALLOC_TRIM_THRESHOLD_=10000000000",
                     unset, omp, blas);
}

BaselineRows torch_rows(const BenchOptions& o, int omp, int blas, const std::string& args = "") {
  BaselineRows rows =
      json_rows_of(fmt::format("{} /usr/bin/python3 '{}' {}", baseline_environment(omp, blas), o.torch_script, args));
  report_kernel(fmt::format("pytorch (omp {}, blas {})", omp, blas), rows.kernel);
  return rows;
}

// An empty compile cache for one cold compile, beside the bench's own (and removed with it): an
// earlier row may have filled the bench's with the same kernels (the memory rows compile the
// MLP's), which would make a cold row warm.
class FreshCache {
 public:
  explicit FreshCache(const std::string& name) : previous_(std::getenv("ZEPHYR_CACHE_DIR")) {
    setenv("ZEPHYR_CACHE_DIR", (previous_ + "-" + name).c_str(), 1);
  }
  ~FreshCache() { setenv("ZEPHYR_CACHE_DIR", previous_.c_str(), 1); }

 private:
  std::string previous_;  // bench() always sets it
};

// One training step (SGD) of `forward`'s classifier loss on random data: the step row, and on one
// thread its cold compile against the budget. A cold compile is one sample of a noisy quantity (on
// this VM the CNN's ranged 0.41-0.51 s from run to run), so it is timed kColdSamples times, each
// in a new jit with an empty compile cache, and the row is their median [min, max].
constexpr int kColdSamples = 3;

void train_step_rows(Bench& bench, const char* name, Tensor (*forward)(Params, Tensor),
                     Tensor (*loss)(Params, Tensor, Tensor), int64_t batch, int reps, double budget,
                     const BaselineRows& torch, int threads, double flop, double goal) {
  compiler::Options options;
  options.threads = threads;
  optim::Optimizer sgd = optim::sgd(0.01);
  auto make_step = [&] {
    return jit([sgd, loss](Params p, OptState s, Tensor x, Tensor y) {
      auto [value, grads] = value_and_grad(loss)(p, x, y);
      auto [q, s2] = sgd.update(grads, s, p);
      return std::tuple{q, s2, value};
    }, options);
  };
  Array x = random::uniform(random::key(1), {batch, 784});
  Array y = Array::zeros({batch}, DType::i32);
  ParamTree params = trace(forward, random::key(0), x);
  ParamTree state = sgd.init(params);
  std::optional<decltype(make_step())> step;  // a new one per cold sample: a jit compiles once
  std::vector<double> first_calls;  // trace + compile + first run, each cold as in a new process
  for (int i = 0; i < (threads == 1 ? kColdSamples : 1); ++i) {
    FreshCache cold(fmt::format("{}_t{}_{}", name, threads, i));
    compiler::forget_compiled_kernels();
    release_pooled_memory();  // else the pool holds the last sample's buffers, already faulted in
    step.emplace(make_step());
    first_calls.push_back(seconds([&] { (*step)(params, state, x, y); }));
  }
  Stats t = measure([&] { (*step)(params, state, x, y); }, bench.reps(reps));
  Baseline b = baseline_of(torch, name, "pytorch");
  bench.add({fmt::format("{}_t{}", name, threads), threads, "ms", scaled(t, 1e3), b.value * 1e3, b.label, goal, flop,
             b.kernel});
  if (threads == 1) {
    std::sort(first_calls.begin(), first_calls.end());
    const Stats compile{first_calls.front() - t.median, first_calls[first_calls.size() / 2] - t.median,
                        first_calls.back() - t.median};
    bench.add({fmt::format("compile_{}", name), 1, "s", compile, budget, "budget", 1.0});
  }
}

// `zephyr lm-step --json <args>` run by this executable in a new process (`env`: assignments in
// front of it), parsed.
nlohmann::json lm_step_json(const std::string& args, const std::string& env = "") {
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  const std::string out = output_of(fmt::format("{}'{}' lm-step --json {}", env, self, args));
  if (out.empty()) throw Error(fmt::format("[bench] zephyr lm-step {} failed", args));
  return nlohmann::json::parse(out);
}

// The shape of an LM row: models.cpp's transformer with d_model 128 and 4 heads.
struct LmShape {
  std::string name;
  int blocks;
  int64_t context, batch;
  int flash_block;  // > 0: nets::flash_attention over key blocks of this size
};

// value_and_grad + Adam of the LM, against the same model in PyTorch (tools/bench/torch_baseline.py)
// at the better of its two thread layouts. Goals: the Run time issue's (2x on 1 thread, 1.6x on 2).
// Returns whether the second layout was the better.
bool lm_step_rows(Bench& bench, const LmShape& shape, int threads, const BaselineRows& one, const BaselineRows& other) {
  compiler::Options options;
  options.threads = threads;
  const optim::Optimizer adam = optim::adam(1e-3);
  auto step = jit([adam](Params p, OptState s, Tensor tokens, int layers, int flash_block) {
    auto [loss, grads] = value_and_grad(transformer_loss)(p, tokens, layers, 128, 4, flash_block);
    auto [q, s2] = adam.update(grads, s, p);
    return std::tuple{q, s2, loss};
  }, options);
  Array tokens({shape.batch, shape.context + 1}, DType::i32);
  for (int64_t i = 0; i < tokens.size(); ++i) tokens.data<int32_t>()[i] = static_cast<int32_t>((i * 37 + 11) % 256);
  const ParamTree params = trace(transformer_loss, random::key(0), tokens, shape.blocks, 128, 4, shape.flash_block);
  const ParamTree state = adam.init(params);
  step(params, state, tokens, shape.blocks, shape.flash_block);  // the compile, not timed here (the compile rows time it)
  Stats t = measure([&] { step(params, state, tokens, shape.blocks, shape.flash_block); },
                    bench.reps(shape.blocks * shape.context * shape.batch <= 1024 ? 20 : 7));
  Baseline a = baseline_of(one, shape.name, "pytorch"), b = baseline_of(other, shape.name, "pytorch");
  const bool second = std::isnan(a.value) || (!std::isnan(b.value) && b.value < a.value);
  const Baseline& best = second ? b : a;
  bench.add({fmt::format("{}_t{}", shape.name, threads), threads, "ms", scaled(t, 1e3), best.value * 1e3, best.label,
             threads == 1 ? 2.0 : 1.6, 0, best.kernel});
  return second;
}

// The Run time issue's long-context row: the LM at context 1024, batch 1, with flash attention
// (key blocks of 64). Besides the step time, the memory a step needs above the model, measured in
// a process of its own (`zephyr lm-step`) as PyTorch's is in the same layout, which stores every
// head's (t, t) scores for the backward pass; its goal is half of PyTorch's.
void lm_long_context_rows(Bench& bench, int threads, const BaselineRows& one, const BaselineRows& other) {
  const LmShape shape{"lm_2block_ctx1024_train_step", 2, 1024, 1, 64};
  const bool second = lm_step_rows(bench, shape, threads, one, other);
  const nlohmann::json j = lm_step_json(fmt::format("--blocks {} --context {} --batch {} --flash-block {} --steps 1 --threads {}",
                                                    shape.blocks, shape.context, shape.batch, shape.flash_block, threads));
  const double mb = j["step_memory_mb"].get<double>();
  const Baseline memory = baseline_of(second ? other : one, "lm_2block_ctx1024_step_memory", "pytorch");
  fmt::print("{}_t{}: a step's memory {:.1f} MB above the model ({:.1f} MB planned intermediates), PyTorch's {:.1f} MB\n",
             shape.name, threads, mb, j["arena_mb"].get<double>(), memory.value / 1e6);
  bench.add({fmt::format("lm_2block_ctx1024_step_memory_t{}", threads), threads, "MB", {mb, mb, mb}, memory.value / 1e6,
             memory.label, 2.0, 0, memory.kernel});
}

// Returns the prepared call's times.
Stats inference_row(Bench& bench, const char* name, Tensor (*forward)(Params, Tensor), int64_t width, int reps,
                    double goal, const BaselineRows& baseline, const std::string& baseline_name) {
  compiler::Options options;
  options.threads = 1;
  Array x = random::uniform(random::key(2), {1, width});
  ParamTree params = trace(forward, random::key(0), x);
  auto infer = jit(forward, options);
  Stats t = measure([&] { infer(params, x); }, bench.reps(reps));
  Baseline b = baseline_of(baseline, name, baseline_name);
  bench.add({fmt::format("{}_t1", name), 1, "ms", scaled(t, 1e3), b.value * 1e3, b.label, goal, 0, b.kernel});
  // The same call bound once (Jitted::prepare): no signature key, lookup, lock or allocation.
  auto prepared = infer.prepare(params, x);
  Stats p = measure([&] { prepared(); }, bench.reps(reps));
  bench.add({fmt::format("{}_prepared_t1", name), 1, "ms", scaled(p, 1e3), b.value * 1e3, b.label, goal, 0, b.kernel});
  return p;
}

// A batch-1 forward reads every weight once and does little else: its limit is the rate one core
// reads them at from L3 (where they stay between calls), measured here on a block of their size.
// The row is the weights' bytes over the prepared call's time, against that rate; DRAM's rate
// (a block far larger than L3) is printed for comparison.
void read_rate_row(Bench& bench, const char* name, const ParamTree& params, const Stats& call) {
  double weight_bytes = 0;
  for (const auto& [path, array] : params) weight_bytes += static_cast<double>(array.nbytes());
  const double l3 = read_gbytes_per_second(static_cast<size_t>(weight_bytes));
  const double dram = read_gbytes_per_second(size_t{512} << 20);
  fmt::print("read rate on one core: {:.0f} GB/s from L3 ({:.1f} MB block), {:.0f} GB/s from DRAM (512 MB block)\n", l3,
             weight_bytes / 1e6, dram);
  const Stats rate{weight_bytes / call.max * 1e-9, weight_bytes / call.median * 1e-9, weight_bytes / call.min * 1e-9};
  bench.add({fmt::format("{}_read_rate_t1", name), 1, "GB/s", rate, l3, "l3_read", 0.8, 0, ""});
}

// ---- compiling a transformer LM's training step, each in a new process ----

// `zephyr lm-step --compile-only` (this executable) with its own compile cache: trace + compile
// seconds, memory above the model's arrays, kernel counts.
nlohmann::json lm_compile(const std::string& cache, const std::string& shape) {
  return lm_step_json("--compile-only " + shape, fmt::format("ZEPHYR_CACHE_DIR='{}' ", cache));
}

// A scan compiles once whatever its length (the Transforms issue): the gradient of an RNN over 16
// and over 256 steps, each compiled cold (its own empty cache) five times; the row is the ratio
// of the median compile times (the compile alone: compiler::compile, not a first run).
void scan_compile_row(Bench& bench) {
  auto gradients = [](Tensor w, Tensor u, Tensor h0, Tensor xs) {
    auto [h, hs] = scan([&](Tensor c, Tensor x) {
      Tensor next = tanh(matmul(x, w) + matmul(c, u));
      return std::pair{next, next};
    }, h0, xs);
    return vjp(mean(square(hs)) + mean(h), scalar(1.0), {w, u});
  };
  size_t kernels[2] = {0, 0};
  auto cold_seconds = [&](int64_t steps, size_t& distinct) {
    const Array w = Array::zeros({32, 64}), u = Array::zeros({64, 64}), h0 = Array::zeros({8, 64});
    const Function fn = make_function(gradients, w, u, h0, Array::zeros({steps, 8, 32}));
    std::vector<double> samples;
    for (int i = 0; i < 5; ++i) {
      FreshCache cold(fmt::format("scan{}_{}", steps, i));
      compiler::forget_compiled_kernels();
      const auto executable = compiler::compile(fn);
      samples.push_back(executable->compile_seconds());
      distinct = executable->stats().distinct;
    }
    return stats_of(std::move(samples));
  };
  const Stats short_loop = cold_seconds(16, kernels[0]), long_loop = cold_seconds(256, kernels[1]);
  fmt::print("scan: an RNN's gradient compiles in {:.3f} s [{:.3f}, {:.3f}] over 16 steps ({} kernels), {:.3f} s "
             "[{:.3f}, {:.3f}] over 256 ({} kernels)\n", short_loop.median, short_loop.min, short_loop.max, kernels[0],
             long_loop.median, long_loop.min, long_loop.max, kernels[1]);
  const double ratio = long_loop.median / short_loop.median;
  bench.add({"compile_scan_256_over_16_steps", compiler::default_threads(), "x", {ratio, ratio, ratio}, 1.1, "budget", 1.0});
}

void compile_rows(Bench& bench, const std::filesystem::path& caches) {
  auto fresh = [&](const char* name) {
    std::filesystem::remove_all(caches / name);
    return (caches / name).string();
  };
  auto seconds_of = [](const nlohmann::json& j) { return j["trace_s"].get<double>() + j["compile_s"].get<double>(); };
  auto add = [&](const std::string& name, const std::string& unit, double value, double budget) {
    bench.add({name, compiler::default_threads(), unit, {value, value, value}, budget, "budget", 1.0});
  };
  // The Kernels issue's model: d_model 128, 4 heads, batch 8, context 64, Adam.
  const std::string lm = "--model-dim 128 --heads 4 --context 64 --batch 8";
  const nlohmann::json one = lm_compile(fresh("lm1"), "--blocks 1 " + lm);
  const std::string eight_cache = fresh("lm8");
  const nlohmann::json eight = lm_compile(eight_cache, "--blocks 8 " + lm);
  const nlohmann::json warm = lm_compile(eight_cache, "--blocks 8 " + lm);
  fmt::print("lm: 1 block {} distinct kernels in {} calls; 8 blocks {} in {}; warm: {} compiled\n",
             one["distinct"].get<int>(), one["kernel_calls"].get<int>(), eight["distinct"].get<int>(),
             eight["kernel_calls"].get<int>(), warm["compiled"].get<int>());
  add("compile_lm_1block_cold", "s", seconds_of(one), 2.0);
  add("compile_lm_8block_cold", "s", seconds_of(eight), 2.0);
  add("compile_lm_8block_over_1block", "x", seconds_of(eight) / seconds_of(one), 1.3);
  add("compile_lm_8block_warm", "s", seconds_of(warm), 0.25);
  scan_compile_row(bench);
  if (bench.options().quick) return;
  // GPT-2 small's shape: 12 blocks, d_model 768, 12 heads, context 128, batch 4 (85.5M parameters).
  const nlohmann::json gpt2 = lm_compile(fresh("gpt2"), "--blocks 12 --model-dim 768 --heads 12 --context 128 --batch 4");
  add("compile_gpt2_small_cold", "s", seconds_of(gpt2), 10.0);
  add("compile_gpt2_small_memory", "MB", gpt2["compile_memory_mb"].get<double>(), 1000.0);
}

// ---- the main job: five epochs of the Fashion-MNIST MLP with Adam, compile included ----

void main_job_rows(Bench& bench, int threads) {
  const BenchOptions& o = bench.options();
  if (!std::filesystem::exists(o.data_dir)) {
    fmt::print("mlp_main_job_t{}: skipped, no Fashion-MNIST in {} (apt-get install dataset-fashion-mnist)\n",
               threads, o.data_dir);
    return;
  }
  auto torch = torch_rows(o, 1, threads, fmt::format("--main-job '{}'", o.data_dir));
  std::filesystem::path checkpoint = std::filesystem::temp_directory_path() / fmt::format("zephyr-bench-{}.safetensors", getpid());
  TrainOptions train_options;
  train_options.threads = threads;
  train_options.quiet = true;
  train_options.data_dir = o.data_dir;
  train_options.checkpoint = checkpoint.string();
  double accuracy = 0;
  double t = seconds([&] { accuracy = train(train_options); });
  std::filesystem::remove(checkpoint);
  Baseline b = baseline_of(torch, "mlp_main_job", "pytorch");
  bench.add({fmt::format("mlp_main_job_t{}", threads), threads, "s", {t, t, t}, b.value, b.label, 2.0, 0, b.kernel});
  bench.add({fmt::format("mlp_main_job_accuracy_t{}", threads), threads, "accuracy", {accuracy, accuracy, accuracy},
             0.885, "budget", 1.0});
}

// ---- data-parallel training over MPI: two ranks of one thread against one process ----

// The MPI issue's goal: two ranks on one thread each take a global batch's step at least 1.8x
// faster than one process on one thread, and no slower than one process on two threads.
void distributed_rows(Bench& bench) {
  const BenchOptions& o = bench.options();
  if (!std::filesystem::exists(o.data_dir)) {
    fmt::print("distributed: skipped, no Fashion-MNIST in {} (apt-get install dataset-fashion-mnist)\n", o.data_dir);
    return;
  }
  for (const auto& [model, limit] : {std::pair{"mlp", 12800}, std::pair{"cnn", 6400}}) {
    std::string skipped;
    const auto steps = distributed_steps(model, o.data_dir, limit, o.quick ? 1 : 3, skipped);
    if (!steps) {
      fmt::print("distributed_{}: skipped, {}\n", model, skipped);
      continue;
    }
    // The share of the all-reduce hidden behind the backward pass: what of its time after the
    // backward pass (averaging after it, --no-overlap) the overlap took away.
    const double hidden = 1 - steps->after_backward.median / steps->after_backward_no_overlap.median;
    fmt::print("distributed {}: batch {}, {:.2f} MB of gradients all-reduced per step by each rank, in buckets started "
               "during the backward pass. After it ends, the all-reduce takes {:.3f} ms against {:.3f} ms averaging "
               "only then (--no-overlap): {:.0f}% hidden behind the backward pass, which spends {:.3f} ms in MPI "
               "calls between its kernels\n",
               model, steps->batch, steps->allreduced_bytes / 1e6, steps->after_backward.median,
               steps->after_backward_no_overlap.median, 100 * hidden, steps->during_backward.median);
    bench.add({fmt::format("distributed_{}_step_2ranks", model), 2, "ms", steps->two_ranks, steps->one_rank.median,
               "1 rank, 1 thr", 1.8});
    // The overlap pays only if the step gets faster than averaging after the backward pass.
    bench.add({fmt::format("distributed_{}_step_2ranks_overlap", model), 2, "ms", steps->two_ranks,
               steps->two_ranks_no_overlap.median, "--no-overlap", 1.0});
    bench.add({fmt::format("distributed_{}_step_2ranks_vs_2thr", model), 2, "ms", steps->two_ranks,
               steps->one_rank_two_threads.median, "1 rank, 2 thr", 1.0});
    // ZeRO stage 1 (`train --zero`): each rank updates half the params and keeps half the state.
    bench.add({fmt::format("distributed_{}_step_2ranks_zero", model), 2, "ms", steps->two_ranks_zero,
               steps->one_rank.median, "1 rank, 1 thr", 1.8});
  }
}

// ---- memory: peak RSS of MLP training against what it must hold, and RSS over many steps ----

void memory_rows(Bench& bench) {
  const BenchOptions& o = bench.options();
  const int64_t batch = 128;
  optim::Optimizer adam = optim::adam(1e-3);
  compiler::Options options;
  options.threads = 1;
  auto step = jit([adam](Params p, OptState s, Tensor x, Tensor y) {
    auto [value, grads] = value_and_grad(classifier_loss)(p, x, y);
    auto [q, s2] = adam.update(grads, s, p);
    return std::tuple{q, s2, value};
  }, options);
  ParamTree params = trace(classifier, random::key(0), Array::zeros({batch, 784}));
  ParamTree state = adam.init(params);
  step(params, state, Array::zeros({batch, 784}), Array::zeros({batch}, DType::i32));  // compiled
  auto bytes_of = [](const ParamTree& tree) {
    double n = 0;
    for (const auto& [path, array] : tree) n += static_cast<double>(array.nbytes());
    return n;
  };

  // What training must hold: the data, parameters and their gradients, the optimizer state, and
  // each layer's activations and their gradients for one batch.
  const double before = rss_bytes();
  reset_peak_rss();
  data::Dataset train_set = std::filesystem::exists(o.data_dir) ? data::load_fashion_mnist("train", o.data_dir)
                                                                : data::Dataset{random::uniform(random::key(3), {60000, 784}),
                                                                                Array::zeros({60000}, DType::i32)};
  const double data = static_cast<double>(train_set.images.nbytes() + train_set.labels.nbytes());
  const double activations = 2.0 * batch * (784 + 512 + 512 + 512 + 512 + 10 + 10) * sizeof(float);
  const double needed = data + 2 * bytes_of(params) + bytes_of(state) + activations;
  auto order = data::batches(random::key(4), train_set.size(), batch);
  for (const auto& rows : order) {
    data::Dataset b = data::batch(train_set, rows);
    auto [p2, s2, loss] = step(params, state, b.images, b.labels);
    params = std::move(p2);
    state = std::move(s2);
  }
  // Parameters and state were resident before the reset; the rest is what training added.
  const double used = peak_rss_bytes() - before + bytes_of(params) + bytes_of(state);
  bench.add({"mlp_train_peak_memory", 1, "MB", {used / 1e6, used / 1e6, used / 1e6}, 1.5 * needed / 1e6, "budget", 1.0});

  // Flat over many steps: the RSS after the last step against the RSS after a tenth of them.
  const int steps = o.quick ? 2000 : 10000;
  data::Dataset b = data::batch(train_set, order[0]);
  double early = 0;
  for (int i = 0; i < steps; ++i) {
    auto [p2, s2, loss] = step(params, state, b.images, b.labels);
    params = std::move(p2);
    state = std::move(s2);
    if (i + 1 == steps / 10) early = rss_bytes();
  }
  const double growth = rss_bytes() / early;
  bench.add({fmt::format("mlp_train_rss_growth_{}k", steps / 1000), 1, "x", {growth, growth, growth}, 1.01, "budget",
             1.0});
}

void write_json(const std::vector<Row>& rows, const std::string& path) {
  nlohmann::json out = nlohmann::json::array();
  auto number = [](double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); };
  for (const Row& r : rows)
    out.push_back({{"name", r.name}, {"threads", r.threads}, {"unit", r.unit}, {"zephyr", r.zephyr.median},
                   {"baseline", number(r.baseline)}, {"baseline_name", r.baseline_name},
                   {"speedup", number(r.speedup())}, {"goal", r.goal},
                   {"baseline_kernel", r.kernel.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.kernel)}});
  std::ofstream file(path);
  file << out.dump(2) << "\n";
  if (!file.flush()) throw Error(fmt::format("cannot write '{}'", path));
  fmt::print("wrote {}\n", path);
}

}  // namespace

void bench(const BenchOptions& o) {
  // Compile rows are cold: an empty compile cache of the bench's own, removed at the end.
  const std::filesystem::path caches = std::filesystem::temp_directory_path() / fmt::format("zephyr-bench-{}", getpid());
  std::filesystem::remove_all(caches);
  setenv("ZEPHYR_CACHE_DIR", (caches / "bench").c_str(), 1);
  struct Cleanup {
    std::filesystem::path path;
    ~Cleanup() { std::filesystem::remove_all(path); }
  } cleanup{caches};
  Bench bench(o);
  bench.measure_peaks();
  fmt::print("FMA peak before: {:.0f} GFLOP/s on 1 core, {:.0f} on 2\n", bench.peak(1), bench.peak(2));
  Bench::print_header();
  // MLP step FLOPs, 411 M: forward through the three weight matrices (171 M); backward, every
  // weight gradient (171 M) and the input gradients of the last two layers only (68 M), since
  // nothing needs the gradient of the images.
  const double forward_flop = 2.0 * 128 * (784 * 512 + 512 * 512 + 512 * 10);
  const double mlp_flop = 2 * forward_flop + 2.0 * 128 * (512 * 512 + 512 * 10);
  if (bench.wants("memory")) memory_rows(bench);  // first, before other rows' buffers are pooled
  if (bench.wants("compile")) compile_rows(bench, caches);
  const Blas blas;
  if (bench.wants("matmul")) report_kernel("openblas", blas.kernel());
  for (int threads : {1, 2}) {
    if (bench.wants("matmul")) matmul_rows(bench, blas, threads);
    if (bench.wants("step")) {
      auto torch_mlp = torch_rows(o, 1, threads), torch_cnn = torch_rows(o, threads, 1);
      // The Run time issue's goals: the MLP 1.4x PyTorch on 1 thread and 1.7x on 2; the CNN 2x and 1.6x.
      train_step_rows(bench, "mlp_train_step", classifier, classifier_loss, 128, 50, 0.3, torch_mlp, threads, mlp_flop,
                      threads == 1 ? 1.4 : 1.7);
      train_step_rows(bench, "cnn_train_step", cnn, cnn_loss, 64, 20, 0.5, torch_cnn, threads, 0,
                      threads == 1 ? 2.0 : 1.6);
      // The Kernels issue's LM: context 64, batch 8, plain attention.
      for (int blocks : {2, 8})
        lm_step_rows(bench, {fmt::format("lm_{}block_train_step", blocks), blocks, 64, 8, 0}, threads, torch_mlp, torch_cnn);
      lm_long_context_rows(bench, threads, torch_mlp, torch_cnn);
    }
    if (bench.wants("main") && !o.quick) main_job_rows(bench, threads);
  }
  if (bench.wants("infer")) {
    // Batch 1: the MLP against PyTorch, and a tiny 64-64-64 MLP, where per-op dispatch is
    // everything, against LibTorch's C++ API (PyTorch's when LibTorch is not built).
    auto torch = torch_rows(o, 1, 1);
    const Stats prepared = inference_row(bench, "mlp_infer_b1", classifier, 784, 200, 2.0, torch, "pytorch");
    read_rate_row(bench, "mlp_infer_b1", trace(classifier, random::key(0), Array::zeros({1, 784})), prepared);
    auto libtorch = o.libtorch_baseline.empty()
                        ? BaselineRows{}
                        : json_rows_of(fmt::format("{} '{}'", baseline_environment(1, 1), o.libtorch_baseline));
    report_kernel("libtorch", libtorch.kernel);
    bool have_libtorch = libtorch.seconds.contains("tiny_mlp_b1");
    inference_row(bench, "tiny_mlp_b1", tiny_mlp, 64, 500, 20.0, have_libtorch ? libtorch : torch,
                  have_libtorch ? "libtorch" : "pytorch");
  }
  if (bench.wants("distributed")) distributed_rows(bench);
  // libomp's workers spin for KMP_BLOCKTIME (200 ms) after the last parallel region: probed at
  // once, the second core is theirs and the 2-core peak reads as one core's.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const double after1 = fma_peak_gflops(1), after2 = fma_peak_gflops(2);
  fmt::print("FMA peak after: {:.0f} GFLOP/s on 1 core, {:.0f} on 2\n", after1, after2);
  if (after1 < 0.9 * bench.peak(1) || after2 < 0.9 * bench.peak(2))
    fmt::print("warning: the FMA peak dropped by more than 10% during the run (a busy machine): discard this run\n");
  if (!o.json.empty()) write_json(bench.rows(), o.json);
}

}  // namespace zephyr::cli
