// `zephyr lm-step`: a transformer language model's training step (value_and_grad + Adam) from a
// cold start: trace, compile (timed, with the kernel and cache counts), then steps. The compile
// rows of `zephyr bench` run it in fresh processes; the compile-cache tests run it twice.
#pragma once

#include <cstdint>
#include <string>

namespace zephyr::cli {

struct LmStepOptions {
  int blocks = 1;
  int model_dim = 128;
  int heads = 4;
  int64_t context = 64;
  int64_t batch = 8;
  int flash_block = 0;  // > 0: flash attention over key blocks of this size (nets::flash_attention)
  int steps = 3;      // timed after the first call
  int threads = 0;    // 0: ZEPHYR_NUM_THREADS, else every core
  bool json = false;  // one JSON object on stdout instead of text
  /// Only trace and compile (no step): the compile time and the memory compiling takes above the
  /// model's own arrays, as the compile rows of `zephyr bench` measure them.
  bool compile_only = false;
};

void lm_step(const LmStepOptions& options);

}  // namespace zephyr::cli
