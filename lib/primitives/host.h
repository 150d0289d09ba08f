// Helpers for the reference evaluations: values as f64 Arrays, indexed in plain loops. Clarity
// over speed: these are the oracle the compiled code is checked against.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "zephyr/array.h"
#include "zephyr/graph.h"

namespace zephyr::primitives::host {

/// Zeros of `shape`, as f64.
inline Array zeros(const Shape& shape) { return Array::zeros(shape, DType::f64); }

/// Row-major element strides of `shape`.
inline std::vector<int64_t> strides(const Shape& shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) s[i - 1] = s[i] * shape[i];
  return s;
}

/// Calls fn(index) for every multi-index of `shape`, row-major (once for a scalar).
template <class F>
void for_each_index(const Shape& shape, F&& fn) {
  std::vector<int64_t> index(shape.size(), 0);
  const int64_t count = numel(shape);
  for (int64_t flat = 0; flat < count; ++flat) {
    fn(index);
    for (size_t a = shape.size(); a-- > 0;) {
      if (++index[a] < shape[a]) break;
      index[a] = 0;
    }
  }
}

/// The flat position in an operand of shape `from` (numpy-broadcast to the output) of the
/// output element at `index`.
inline int64_t broadcast_offset(const std::vector<int64_t>& index, const Shape& from) {
  const size_t lead = index.size() - from.size();
  int64_t offset = 0;
  for (size_t i = 0; i < from.size(); ++i) offset = offset * from[i] + (from[i] == 1 ? 0 : index[lead + i]);
  return offset;
}

/// out[i] = f(x[i]...) with the inputs broadcast to the node's shape.
template <size_t N, class F>
Array map(const Node& n, std::span<const Array> in, F&& f) {
  Array out = zeros(n.shape);
  double* o = out.data<double>();
  int64_t flat = 0;
  for_each_index(n.shape, [&](const std::vector<int64_t>& index) {
    std::array<double, N> x;
    for (size_t k = 0; k < N; ++k) x[k] = in[k].data<double>()[broadcast_offset(index, in[k].shape())];
    o[flat++] = std::apply(f, x);
  });
  return out;
}

/// A whole number held in a double, as the two's-complement i32 it stands for.
inline int32_t as_i32(double v) { return static_cast<int32_t>(static_cast<uint32_t>(static_cast<int64_t>(v))); }

/// Bits of an integer dtype.
inline int width(DType d) { return 8 * static_cast<int>(itemsize(d)); }

/// Two's-complement bits wrapped to integer dtype `d`, as a double (exact for i64 up to 2^53:
/// the interpreter holds values as doubles); `wrap` does it for a whole number in a double.
inline double wrap_bits(uint64_t u, DType d) {
  switch (d) {
    case DType::i32: return static_cast<int32_t>(static_cast<uint32_t>(u));
    case DType::u8: return static_cast<uint8_t>(u);
    case DType::i8: return static_cast<int8_t>(static_cast<uint8_t>(u));
    default: return static_cast<double>(static_cast<int64_t>(u));
  }
}
inline double wrap(double v, DType d) { return wrap_bits(static_cast<uint64_t>(static_cast<int64_t>(v)), d); }

}  // namespace zephyr::primitives::host
