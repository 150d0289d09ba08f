// libFuzzer: any bytes as a safetensors file. A zephyr::Error is the expected answer; a crash,
// a sanitizer report, a leak or another exception is a finding.
#include <zephyr/error.h>
#include <zephyr/io/safetensors.h>

#include "fuzz_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz_input_file(data, size, ".safetensors");
  try {
    zephyr::io::load_safetensors(path);
    zephyr::io::load_safetensors_metadata(path);
  } catch (const zephyr::Error&) {
  }
  return 0;
}
