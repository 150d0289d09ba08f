#include "zephyr/dtype.h"

#include <fmt/format.h>

#include <bit>
#include <cmath>
#include <cstdint>

#include "zephyr/error.h"

namespace zephyr {

std::span<const DType> all_dtypes() {
  static constexpr DType all[] = {DType::f32, DType::f64, DType::i32, DType::bool_, DType::bf16,
                                  DType::f16, DType::i64, DType::u8,  DType::i8};
  return all;
}

size_t itemsize(DType dtype) {
  switch (dtype) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::i32: return 4;
    case DType::bool_: return 1;
    case DType::bf16: return 2;
    case DType::f16: return 2;
    case DType::i64: return 8;
    case DType::u8: return 1;
    case DType::i8: return 1;
  }
  return 0;
}

const char* name(DType dtype) {
  switch (dtype) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::i32: return "i32";
    case DType::bool_: return "bool";
    case DType::bf16: return "bf16";
    case DType::f16: return "f16";
    case DType::i64: return "i64";
    case DType::u8: return "u8";
    case DType::i8: return "i8";
  }
  return "?";
}

bool is_float(DType dtype) {
  return dtype == DType::f32 || dtype == DType::f64 || dtype == DType::bf16 || dtype == DType::f16;
}
bool is_integer(DType dtype) {
  return dtype == DType::i32 || dtype == DType::i64 || dtype == DType::u8 || dtype == DType::i8;
}
bool is_unsigned(DType dtype) { return dtype == DType::u8; }
bool is_low_precision(DType dtype) { return dtype == DType::bf16 || dtype == DType::f16; }

bfloat16 to_bfloat16(float value) {
  uint32_t u = std::bit_cast<uint32_t>(value);
  if (std::isnan(value)) return {static_cast<uint16_t>((u >> 16) | 0x40u)};  // quiet, sign kept
  u += 0x7fffu + ((u >> 16) & 1u);  // ties to even
  return {static_cast<uint16_t>(u >> 16)};
}
float to_float(bfloat16 value) { return std::bit_cast<float>(static_cast<uint32_t>(value.bits) << 16); }
// _Float16 (clang and GCC on x86-64) converts as IEEE 754 says: F16C where the CPU has it.
float16 to_float16(float value) { return {std::bit_cast<uint16_t>(static_cast<_Float16>(value))}; }
float to_float(float16 value) { return static_cast<float>(std::bit_cast<_Float16>(value.bits)); }

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
