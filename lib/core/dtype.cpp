#include "zephyr/dtype.h"

#include <fmt/format.h>

#include <cstdint>

#include "zephyr/error.h"

namespace zephyr {

size_t itemsize(DType dtype) {
  switch (dtype) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::i32: return 4;
    case DType::bool_: return 1;
  }
  return 0;
}

const char* name(DType dtype) {
  switch (dtype) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::i32: return "i32";
    case DType::bool_: return "bool";
  }
  return "?";
}

bool is_float(DType dtype) { return dtype == DType::f32 || dtype == DType::f64; }

int64_t numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw Error(fmt::format("shape {} has a negative extent", to_string(shape)));
    if (__builtin_mul_overflow(n, d, &n))
      throw Error(fmt::format("shape {} has more elements than fit in 64 bits", to_string(shape)));
  }
  return n;
}

size_t nbytes(const Shape& shape, DType dtype) {
  size_t bytes = 0;
  if (__builtin_mul_overflow(static_cast<size_t>(numel(shape)), itemsize(dtype), &bytes) ||
      bytes > static_cast<size_t>(INT64_MAX))
    throw Error(fmt::format("{} needs more bytes than fit in 64 bits", describe(dtype, shape)));
  return bytes;
}

std::string to_string(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

std::string describe(DType dtype, const Shape& shape) {
  return std::string(name(dtype)) + to_string(shape);
}

int64_t normalize_axis(int64_t axis, int64_t rank, const char* what) {
  int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank)
    throw Error(fmt::format("[{}] axis {} is out of range for rank {}", what, axis, rank));
  return a;
}

int64_t normalize_axis(int64_t axis, int64_t rank, const char* what, const SourceLoc& where) {
  int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) fail_at(where, what, fmt::format("axis {} is out of range for rank {}", axis, rank));
  return a;
}

std::string SourceLoc::str() const {
  if (line == 0) return "";
  return fmt::format("{}:{}:{}", file, line, column);
}

void fail_at(const SourceLoc& loc, const std::string& op, const std::string& message) {
  std::string where = loc.str();
  throw Error(fmt::format("{}{}[{}] {}", where, where.empty() ? "" : ": ", op, message));
}

}  // namespace zephyr
