#include "zephyr/dtype.h"

#include <fmt/format.h>

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
  for (int64_t d : shape) n *= d;
  return n;
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

std::string SourceLoc::str() const {
  if (line == 0) return "";
  return fmt::format("{}:{}:{}", file, line, column);
}

void fail_at(const SourceLoc& loc, const std::string& op, const std::string& message) {
  std::string where = loc.str();
  throw Error(fmt::format("{}{}[{}] {}", where, where.empty() ? "" : ": ", op, message));
}

}  // namespace zephyr
