// libFuzzer: any text as an --input-shape value.
#include <zephyr/error.h>

#include <string>

#include "../../tools/zephyr/shape_flag.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    zephyr::cli::parse_shape(std::string(reinterpret_cast<const char*>(data), size));
  } catch (const zephyr::Error&) {
  }
  return 0;
}
