// Element types and shapes: the static facts every graph node carries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace zephyr {

struct SourceLoc;  // error.h

/// Element type of an Array or Tensor. `bool_` is stored one byte per element.
enum class DType : uint8_t { f32, f64, i32, bool_ };

/// Static shape: one extent per axis, outermost first. Rank 0 is a scalar.
using Shape = std::vector<int64_t>;

/// Bytes per element as stored in host memory.
size_t itemsize(DType dtype);
/// "f32", "f64", "i32", "bool".
const char* name(DType dtype);
bool is_float(DType dtype);

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

}  // namespace zephyr
