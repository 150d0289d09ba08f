// `zephyr bench`: every goal row of the performance issue, zephyr against its baseline
// (OpenBLAS, PyTorch, LibTorch) or a budget, measured in one run.
#pragma once

#include <string>
#include <vector>

namespace zephyr::cli {

struct BenchOptions {
  std::string json;                // write the rows here too
  std::string torch_script;        // tools/bench/torch_baseline.py
  std::string libtorch_baseline;   // the zephyr-bench-libtorch executable, if built
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  bool quick = false;              // fewer repetitions; no 2048³ matmul, no main job
  std::vector<std::string> only;   // groups to run: matmul, step, main, infer, memory, compile, distributed (default all)
  std::vector<std::string> skip;   // groups not to run (the sanitized suite skips distributed)
};

void bench(const BenchOptions& options);

}  // namespace zephyr::cli
