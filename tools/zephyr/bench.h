// `zephyr bench`: the performance issue's rows, zephyr against PyTorch (or a budget) in one run.
#pragma once

#include <string>

namespace zephyr::cli {

struct BenchOptions {
  std::string json;          // write the rows here too
  std::string torch_script;  // tools/bench/torch_baseline.py
};

void bench(const BenchOptions& options);

}  // namespace zephyr::cli
