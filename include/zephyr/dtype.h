// Element types and shapes: the static facts every graph node carries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace zephyr {

struct SourceLoc;  // error.h

/// Element type of an Array or Tensor. `bool_` is stored one byte per element. bf16 and f16 are
/// storage formats of 16 bits: ops compute on them in f32 and round the result. u8 is the one
/// unsigned type. (New dtypes go at the end: compile-cache keys hold the numbers.)
enum class DType : uint8_t { f32, f64, i32, bool_, bf16, f16, i64, u8, i8 };

/// Every dtype, in the enum's order.
std::span<const DType> all_dtypes();

/// Static shape: one extent per axis, outermost first. Rank 0 is a scalar.
using Shape = std::vector<int64_t>;

/// Bytes per element as stored in host memory.
size_t itemsize(DType dtype);
/// "f32", "f64", "i32", "bool", "bf16", "f16", "i64", "u8", "i8".
const char* name(DType dtype);
/// f32, f64, bf16 and f16.
bool is_float(DType dtype);
/// i32, i64, u8 and i8: two's complement (u8: unsigned), wrapping on overflow.
bool is_integer(DType dtype);
bool is_unsigned(DType dtype);
/// bf16 and f16: held in 16 bits, computed in f32.
bool is_low_precision(DType dtype);

/// The 16 bits of a bfloat16 and of an IEEE half: the element types of Array::data<T>() for
/// those dtypes. Conversions to them round to nearest, ties to even; NaN stays NaN.
struct bfloat16 {
  uint16_t bits;  ///< the raw bit pattern
};
/// The 16 bits of an IEEE half (binary16); see bfloat16.
struct float16 {
  uint16_t bits;  ///< the raw bit pattern
};
bfloat16 to_bfloat16(float value);
float16 to_float16(float value);
float to_float(bfloat16 value);
float to_float(float16 value);

/// Product of the extents (1 for a scalar). Throws Error naming the shape when an extent is
/// negative or the product does not fit in 63 bits.
int64_t numel(const Shape& shape);
/// Bytes of a dense array of `shape`: numel times itemsize, checked the same way.
size_t nbytes(const Shape& shape, DType dtype);
/// "[8, 64]": the one spelling used in every message.
std::string to_string(const Shape& shape);
/// "f32[8, 64]".
std::string describe(DType dtype, const Shape& shape);

/// Maps a possibly negative axis into [0, rank); `what` names the caller in the error.
int64_t normalize_axis(int64_t axis, int64_t rank, const char* what);
/// The same, with the error pointing at the user's line.
int64_t normalize_axis(int64_t axis, int64_t rank, const char* what, const SourceLoc& where);

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<double>() { return DType::f64; }
template <> constexpr DType dtype_of<int32_t>() { return DType::i32; }
template <> constexpr DType dtype_of<bool>() { return DType::bool_; }
template <> constexpr DType dtype_of<bfloat16>() { return DType::bf16; }
template <> constexpr DType dtype_of<float16>() { return DType::f16; }
template <> constexpr DType dtype_of<int64_t>() { return DType::i64; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::u8; }
template <> constexpr DType dtype_of<int8_t>() { return DType::i8; }

}  // namespace zephyr
