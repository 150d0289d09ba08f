#include "bench.h"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <zephyr/zephyr.h>

#include "models.h"

namespace zephyr::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct Row {
  std::string name;
  int threads;
  std::string unit;  // "ms" (lower is better) or "s" for compile budgets
  double zephyr, baseline;
  std::string baseline_name;
  double goal;  // the speedup the performance issue asks for
  double speedup() const { return baseline / zephyr; }
};

double seconds(const std::function<void()>& f) {
  auto t = Clock::now();
  f();
  return std::chrono::duration<double>(Clock::now() - t).count();
}

double median_seconds(const std::function<void()>& f, int reps) {
  f();
  std::vector<double> times;
  for (int i = 0; i < reps; ++i) times.push_back(seconds(f));
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// PyTorch's medians for `threads` (OpenMP and OpenBLAS pools pinned as the issue prescribes:
// omp 1 / blas t for the MLP rows, omp t / blas 1 for the CNN); empty when PyTorch is missing.
std::map<std::string, double> torch_rows(const std::string& script, int omp, int blas) {
  std::string command = fmt::format("OMP_NUM_THREADS={} OPENBLAS_NUM_THREADS={} /usr/bin/python3 '{}' 2>/dev/null", omp,
                                    blas, script);
  std::FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return {};
  std::string out;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
  if (pclose(pipe) != 0 || out.empty()) return {};
  return nlohmann::json::parse(out).get<std::map<std::string, double>>();
}

Tensor tiny_mlp(Params p, Tensor x) { return nets::mlp(p, x, {64, 64}); }

}  // namespace

void bench(const BenchOptions& o) {
  std::vector<Row> rows;
  auto baseline = [](const std::map<std::string, double>& torch, const std::string& key) -> std::pair<double, std::string> {
    auto it = torch.find(key);
    if (it == torch.end()) return {NAN, "pytorch unavailable"};
    return {it->second, "pytorch"};
  };
  for (int threads : {1, 2}) {
    compiler::Options options;
    options.threads = threads;
    auto torch_mlp = torch_rows(o.torch_script, 1, threads);
    auto torch_cnn = torch_rows(o.torch_script, threads, 1);
    // One training step (SGD) of `forward`'s classifier loss on random data: the step row, and on
    // one thread the compile time against its budget.
    auto train_step_rows = [&](const char* name, Tensor (*forward)(Params, Tensor), Tensor (*loss)(Params, Tensor, Tensor),
                               int64_t batch, int reps, double budget, const std::map<std::string, double>& torch) {
      optim::Optimizer sgd = optim::sgd(0.01);
      auto step = jit([sgd, loss](Params p, OptState s, Tensor x, Tensor y) {
        auto [value, grads] = value_and_grad(loss)(p, x, y);
        auto [q, s2] = sgd.update(grads, s, p);
        return std::tuple{q, s2, value};
      }, options);
      Array x = random::uniform(random::key(1), {batch, 784});
      Array y = Array::zeros({batch}, DType::i32);
      ParamTree params = trace(forward, random::key(0), x);
      ParamTree state = sgd.init(params);
      double compile = seconds([&] { step(params, state, x, y); });
      double t = median_seconds([&] { step(params, state, x, y); }, reps);
      auto [b, baseline_name] = baseline(torch, name);
      rows.push_back({fmt::format("{}_t{}", name, threads), threads, "ms", t * 1e3, b * 1e3, baseline_name, 1.25});
      if (threads == 1) rows.push_back({fmt::format("compile_{}", name), 1, "s", compile - t, budget, "budget", 1.0});
    };
    train_step_rows("mlp_train_step", classifier, classifier_loss, 128, 50, 0.5, torch_mlp);
    // Inference at batch 1: the MLP, and a tiny 64-64-64 MLP where dispatch is everything.
    auto inference_row = [&](const char* name, Tensor (*forward)(Params, Tensor), int64_t width, int reps, double goal) {
      Array x = random::uniform(random::key(2), {1, width});
      ParamTree params = trace(forward, random::key(0), x);
      auto infer = jit(forward, options);
      double t = median_seconds([&] { infer(params, x); }, reps);
      auto [b, baseline_name] = baseline(torch_mlp, name);
      rows.push_back({fmt::format("{}_t1", name), 1, "ms", t * 1e3, b * 1e3, baseline_name, goal});
    };
    if (threads == 1) {
      inference_row("mlp_infer_b1", classifier, 784, 200, 2.0);
      inference_row("tiny_mlp_b1", tiny_mlp, 64, 500, 20.0);
    }
    train_step_rows("cnn_train_step", cnn, cnn_loss, 64, 20, 1.0, torch_cnn);
  }

  fmt::print("{:<24} {:>4} {:>12} {:>12}  {:<20} {:>8} {:>6}\n", "row", "thr", "zephyr", "baseline", "baseline of",
             "speedup", "goal");
  for (const Row& r : rows)
    fmt::print("{:<24} {:>4} {:>10.3f}{:<2} {:>10.3f}{:<2}  {:<20} {:>8.2f} {:>6.2f}{}\n", r.name, r.threads, r.zephyr,
               r.unit, r.baseline, r.unit, r.baseline_name, r.speedup(), r.goal,
               std::isnan(r.speedup()) ? "" : r.speedup() >= r.goal ? "  met" : "  not met");
  if (!o.json.empty()) {
    nlohmann::json out = nlohmann::json::array();
    for (const Row& r : rows) {
      nlohmann::json baseline_value = std::isnan(r.baseline) ? nlohmann::json(nullptr) : nlohmann::json(r.baseline);
      nlohmann::json speedup = std::isnan(r.speedup()) ? nlohmann::json(nullptr) : nlohmann::json(r.speedup());
      out.push_back({{"name", r.name}, {"threads", r.threads}, {"unit", r.unit}, {"zephyr", r.zephyr},
                     {"baseline", baseline_value}, {"baseline_name", r.baseline_name}, {"speedup", speedup},
                     {"goal", r.goal}});
    }
    std::ofstream file(o.json);
    file << out.dump(2) << "\n";
    if (!file.flush()) throw Error(fmt::format("cannot write '{}'", o.json));
    fmt::print("wrote {}\n", o.json);
  }
}

}  // namespace zephyr::cli
