#include "zephyr/array.h"

#include <fmt/format.h>

#include <cstdlib>
#include <new>

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

template <class F>
void store_each(Array& a, F value_at) {
  int64_t n = a.size();
  auto fill = [&]<class T>(T* out) {  // the pointer once: data<T>() checks the dtype
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(value_at(i));
  };
  switch (a.dtype()) {
    case DType::f32: fill(a.data<float>()); break;
    case DType::f64: fill(a.data<double>()); break;
    case DType::i32: fill(a.data<int32_t>()); break;
    case DType::bool_: {
      bool* out = a.data<bool>();
      for (int64_t i = 0; i < n; ++i) out[i] = value_at(i) != 0;
      break;
    }
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
  }
  return 0;
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
