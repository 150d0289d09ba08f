#include "zephyr/array.h"

#include <fmt/format.h>

#include <cstdlib>
#include <new>
#include <type_traits>

#include "buffer_pool.h"

namespace zephyr {
namespace {

// 64-byte aligned (full-width vector loads), and pooled: a training loop's outputs have the same
// sizes every step, so their blocks are reused instead of faulted in afresh (buffer_pool.h).
std::shared_ptr<std::byte[]> allocate(size_t nbytes, DType dtype, const Shape& shape) {
  void* p = buffer_pool::allocate(std::max<size_t>(nbytes, 1));
  if (p == nullptr)
    throw Error(fmt::format("[Array] out of memory: cannot allocate {} bytes for {}", nbytes, describe(dtype, shape)));
  return std::shared_ptr<std::byte[]>(static_cast<std::byte*>(p), [](std::byte* q) { buffer_pool::release(q); });
}

// A whole number as the two's-complement integer of T's width (wrapping, as the compiled code).
template <class T>
T wrapped(double v) {
  return static_cast<T>(static_cast<std::make_unsigned_t<T>>(static_cast<uint64_t>(static_cast<int64_t>(v))));
}

template <class F>
void store_each(Array& a, F value_at) {
  int64_t n = a.size();
  auto fill = [&]<class T>(T* out, auto convert) {  // the pointer once: data<T>() checks the dtype
    for (int64_t i = 0; i < n; ++i) out[i] = convert(value_at(i));
  };
  switch (a.dtype()) {
    case DType::f32: fill(a.data<float>(), [](double v) { return static_cast<float>(v); }); break;
    case DType::f64: fill(a.data<double>(), [](double v) { return v; }); break;
    case DType::i32: fill(a.data<int32_t>(), wrapped<int32_t>); break;
    case DType::bool_: fill(a.data<bool>(), [](double v) { return v != 0; }); break;
    // Through f32, as PyTorch converts a double to bfloat16 and half.
    case DType::bf16: fill(a.data<bfloat16>(), [](double v) { return to_bfloat16(static_cast<float>(v)); }); break;
    case DType::f16: fill(a.data<float16>(), [](double v) { return to_float16(static_cast<float>(v)); }); break;
    case DType::i64: fill(a.data<int64_t>(), [](double v) { return static_cast<int64_t>(v); }); break;
    case DType::u8: fill(a.data<uint8_t>(), wrapped<uint8_t>); break;
    case DType::i8: fill(a.data<int8_t>(), wrapped<int8_t>); break;
  }
}

}  // namespace

Array::Array(Shape shape, DType dtype) : shape_(std::move(shape)), dtype_(dtype) {
  for (int64_t d : shape_)
    if (d < 0) throw Error("[Array] negative extent in shape " + to_string(shape_));
  storage_ = allocate(zephyr::nbytes(shape_, dtype_), dtype_, shape_);  // checked: throws on overflow
}

Array Array::zeros(Shape shape, DType dtype) { return full(std::move(shape), 0.0, dtype); }
Array Array::ones(Shape shape, DType dtype) { return full(std::move(shape), 1.0, dtype); }

Array Array::full(Shape shape, double value, DType dtype) {
  Array a(std::move(shape), dtype);
  store_each(a, [&](int64_t) { return value; });
  return a;
}

int64_t Array::shape(int64_t axis) const { return shape_[normalize_axis(axis, ndim(), "Array::shape")]; }

double Array::at(int64_t i) const {
  switch (dtype_) {
    case DType::f32: return data<float>()[i];
    case DType::f64: return data<double>()[i];
    case DType::i32: return data<int32_t>()[i];
    case DType::bool_: return data<bool>()[i];
    case DType::bf16: return to_float(data<bfloat16>()[i]);
    case DType::f16: return to_float(data<float16>()[i]);
    case DType::i64: return static_cast<double>(data<int64_t>()[i]);
    case DType::u8: return data<uint8_t>()[i];
    case DType::i8: return data<int8_t>()[i];
  }
  return 0;
}

void Array::set(int64_t i, double value) {
  if (i < 0 || i >= size()) throw Error(fmt::format("[Array::set] position {} is outside {}", i, describe(dtype_, shape_)));
  // The one element as a view of this array's storage, converted as store_each converts.
  Array one = *this;
  one.shape_ = {};
  one.storage_ = std::shared_ptr<std::byte[]>(storage_, storage_.get() + i * static_cast<int64_t>(itemsize(dtype_)));
  store_each(one, [&](int64_t) { return value; });
}

Array Array::clone() const {
  Array a(shape_, dtype_);
  std::memcpy(a.raw(), raw(), nbytes());
  return a;
}

Array Array::reshape(Shape shape) const {
  if (numel(shape) != size())
    throw Error(fmt::format("[Array::reshape] cannot reshape {} into {}", to_string(shape_), to_string(shape)));
  Array a = *this;
  a.shape_ = std::move(shape);
  return a;
}

Array Array::astype(DType dtype) const {
  Array a(shape_, dtype);
  store_each(a, [&](int64_t i) { return at(i); });
  return a;
}

bool Array::bitwise_equal(const Array& other) const {
  return shape_ == other.shape_ && dtype_ == other.dtype_ &&
         std::memcmp(raw(), other.raw(), nbytes()) == 0;
}

std::string to_string(const Array& a) {
  constexpr int64_t kShown = 8;
  std::vector<std::string> items;
  for (int64_t i = 0; i < std::min(a.size(), kShown); ++i) items.push_back(fmt::format("{:g}", a.at(i)));
  if (a.size() > kShown) items.push_back("...");
  return fmt::format("{} {{{}}}", describe(a.dtype(), a.shape()), fmt::join(items, ", "));
}

void release_pooled_memory() { buffer_pool::release_pooled(); }

}  // namespace zephyr
