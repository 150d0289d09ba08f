// libFuzzer: any bytes as an IDX file, gzip-compressed or plain (gzread passes plain files through).
#include <zephyr/data/idx.h>
#include <zephyr/error.h>

#include "fuzz_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz_input_file(data, size, ".idx.gz");
  try {
    zephyr::data::read_idx(path);
  } catch (const zephyr::Error&) {
  }
  return 0;
}
