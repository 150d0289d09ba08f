#include "shape_flag.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>

#include "zephyr/error.h"

namespace zephyr::cli {

Shape parse_shape(const std::string& text) {
  Shape shape;
  size_t begin = 0;
  while (begin <= text.size()) {
    size_t end = std::min(text.find(',', begin), text.size());
    std::string item = text.substr(begin, end - begin);
    size_t used = 0;
    long long extent = -1;
    try {
      extent = std::stoll(item, &used);
    } catch (const std::exception&) {
    }
    if (item.empty() || used != item.size() || extent <= 0)
      throw Error(fmt::format("--input-shape '{}' does not parse: expected positive extents separated by commas, like 1,784",
                                 text));
    shape.push_back(extent);
    begin = end + 1;
  }
  // An array of this shape must have a byte count that fits in 64 bits, whatever its dtype.
  int64_t bytes = 0;
  if (__builtin_mul_overflow(numel(shape), int64_t{8}, &bytes))
    throw Error(fmt::format("--input-shape {}: too many elements ({} bytes or more)", text, "2^63"));
  return shape;
}

}  // namespace zephyr::cli
