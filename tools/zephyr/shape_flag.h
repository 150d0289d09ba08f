// The spelling of a shape on the command line (--input-shape): positive extents separated by
// commas. Plain C++, so the fuzz target test/fuzz/input_shape.cpp runs it alone.
#pragma once

#include <string>

#include "zephyr/dtype.h"

namespace zephyr::cli {

/// "1,784" -> {1, 784}. Throws Error naming the text when it does not parse, when an extent is not
/// positive, or when an array of the shape could not have a byte count that fits in 64 bits.
Shape parse_shape(const std::string& text);

}  // namespace zephyr::cli
