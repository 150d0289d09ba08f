// libFuzzer: any checkpoint metadata against a run's configuration. The input is key/value pairs
// separated by NUL bytes, so both the fields and their values are fuzzed.
#include <zephyr/error.h>

#include <string>

#include "../../tools/zephyr/run_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  zephyr::cli::RunConfig metadata;
  size_t at = 0;
  while (at < text.size()) {
    size_t key_end = text.find('\0', at);
    if (key_end == std::string::npos) break;
    size_t value_end = std::min(text.find('\0', key_end + 1), text.size());
    metadata[text.substr(at, key_end - at)] = text.substr(key_end + 1, value_end - key_end - 1);
    at = value_end + 1;
  }
  zephyr::cli::TrainOptions options;
  const zephyr::cli::RunConfig config = zephyr::cli::run_config(options, 60000);
  try {
    zephyr::cli::resumed_epoch("fuzzed.safetensors", metadata, config, false);
  } catch (const zephyr::Error&) {
  }
  return 0;
}
