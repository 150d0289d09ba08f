// threefry-2x32 over Tensors: lib/random/threefry.cpp's algorithm, step for step, so compiled
// code and the host draw identical bits. i32 addition wraps like uint32 addition.
#include <fmt/format.h>

#include "zephyr/ops.h"
#include "zephyr/random_ops.h"

namespace zephyr::random {
namespace {

Tensor word(uint32_t v, const Loc& loc) { return scalar(static_cast<int32_t>(v), DType::i32, loc); }

Tensor rotl(const Tensor& v, int r, const Loc& loc) {
  return bit_or(shift_left(v, r, loc), shift_right_logical(v, 32 - r, loc), loc);
}

void check_key(const Tensor& key, const char* what, const Loc& loc) {
  if (key.dtype() != DType::i32 || key.shape() != Shape{2})
    fail_at(SourceLoc::from(loc), what, "a key must be i32[2] (random::key_array), got " + describe(key.dtype(), key.shape()));
}

// Hashes the pairs (x0[i], x1[i]) with `key`; both 1-D i32 of one length.
std::pair<Tensor, Tensor> threefry(const Tensor& key, Tensor x0, Tensor x1, const Loc& loc) {
  static constexpr int kRotations[2][4] = {{13, 15, 26, 6}, {17, 29, 16, 24}};
  Tensor k0 = reshape(slice(key, 0, 0, 1, 1, loc), {}, loc), k1 = reshape(slice(key, 0, 1, 2, 1, loc), {}, loc);
  Tensor ks[3] = {k0, k1, bit_xor(bit_xor(k0, k1, loc), word(0x1BD11BDAu, loc), loc)};
  x0 = add(x0, ks[0], loc);
  x1 = add(x1, ks[1], loc);
  for (uint32_t block = 0; block < 5; ++block) {
    for (int r : kRotations[block % 2]) {
      x0 = add(x0, x1, loc);
      x1 = bit_xor(rotl(x1, r, loc), x0, loc);
    }
    x0 = add(x0, ks[(block + 1) % 3], loc);
    x1 = add(x1, add(ks[(block + 2) % 3], word(block + 1, loc), loc), loc);
  }
  return {x0, x1};
}

}  // namespace

Array key_array(Key key) {
  Array out({2}, DType::i32);
  out.data<int32_t>()[0] = static_cast<int32_t>(key.hi);
  out.data<int32_t>()[1] = static_cast<int32_t>(key.lo);
  return out;
}

Tensor bits(const Tensor& key, const Shape& shape, Loc loc) {
  check_key(key, "random.bits", loc);
  int64_t n = numel(shape), half = (n + 1) / 2;
  // As the host: iota(n) split in halves, the second padded with a 0 when n is odd.
  Tensor x0 = iota({half}, 0, DType::i32, loc);
  Tensor x1 = add(x0, scalar(static_cast<double>(half), DType::i32, loc), loc);
  if (n % 2) x1 = where(less(x1, scalar(static_cast<double>(n), DType::i32, loc), loc), x1, scalar(0, DType::i32, loc), loc);
  auto [y0, y1] = threefry(key, x0, x1, loc);
  Tensor all = concat({y0, y1}, 0, loc);
  if (2 * half != n) all = slice(all, 0, 0, n, 1, loc);
  return reshape(all, shape, loc);
}

Tensor uniform(const Tensor& key, const Shape& shape, double lo, double hi, Loc loc) {
  // 23 random mantissa bits m give (1 + m 2^-23) - 1 = m 2^-23 exactly, as the host's bit trick.
  Tensor mantissa = cast(shift_right_logical(bits(key, shape, loc), 9, loc), DType::f32, loc);
  Tensor unit = mul(mantissa, scalar(1.0 / (1 << 23), DType::f32, loc), loc);
  if (lo == 0.0 && hi == 1.0) return unit;
  float flo = static_cast<float>(lo), span = static_cast<float>(hi) - flo;
  Tensor scaled = add(mul(unit, scalar(span, DType::f32, loc), loc), scalar(flo, DType::f32, loc), loc);
  return maximum(scaled, scalar(flo, DType::f32, loc), loc);
}

std::vector<Tensor> split(const Tensor& key, int n, Loc loc) {
  if (n < 1) fail_at(SourceLoc::from(loc), "random.split", fmt::format("needs n >= 1, got {}", n));
  Tensor words = bits(key, {n, 2}, loc);
  std::vector<Tensor> keys;
  for (int i = 0; i < n; ++i) keys.push_back(reshape(slice(words, 0, i, i + 1, 1, loc), {2}, loc));
  return keys;
}

Tensor fold_in(const Tensor& key, uint32_t data, Loc loc) {
  check_key(key, "random.fold_in", loc);
  auto [y0, y1] = threefry(key, word(0, loc), word(data, loc), loc);
  return concat({reshape(y0, {1}, loc), reshape(y1, {1}, loc)}, 0, loc);
}

}  // namespace zephyr::random
