// IDX files (the MNIST family's format), plain or gzip-compressed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "zephyr/array.h"

namespace zephyr::data {

/// The contents of an unsigned-byte IDX file: its shape and row-major values.
struct IdxBytes {
  Shape shape;                  ///< the extents from the header
  std::vector<uint8_t> values;  ///< the data, row-major
};

/// Reads a gzip-compressed or plain IDX file of unsigned bytes (magic 0x000008NN, NN = ndim,
/// then NN big-endian u32 extents, then the data). Errors name the file, the offset within the
/// decompressed content and the reason; trailing bytes after the data are an error too.
IdxBytes read_idx_bytes(const std::string& path);

/// read_idx_bytes widened to an i32 Array of the file's shape.
Array read_idx(const std::string& path);

}  // namespace zephyr::data
