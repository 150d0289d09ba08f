// `zephyr run`: a registered model's compiled function on arrays from safetensors files.
#pragma once

#include <string>

namespace zephyr::cli {

struct RunOptions {
  std::string model;
  std::string params;   // params file, or a zephyr train checkpoint
  std::string inputs;   // one tensor per model input, named as `zephyr models` shows
  std::string output;   // results: "y" (or "out<i>"); with grad, "loss" and "grads/<path>"
  bool grad = false;
};

void run(const RunOptions& options);

}  // namespace zephyr::cli
