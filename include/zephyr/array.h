// Array: a concrete, host-resident n-d buffer. The values that go in and out of compiled code.
#pragma once

#include <cstring>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "zephyr/dtype.h"
#include "zephyr/error.h"

namespace zephyr {

/// A dense, row-major, 64-byte aligned buffer with a shape and a dtype.
/// Copies share the buffer (like a shared_ptr); use clone() for a deep copy.
class Array {
 public:
  Array() = default;
  /// Uninitialized storage for `shape` elements of `dtype`.
  Array(Shape shape, DType dtype);

  static Array zeros(Shape shape, DType dtype = DType::f32);
  static Array ones(Shape shape, DType dtype = DType::f32);
  static Array full(Shape shape, double value, DType dtype = DType::f32);
  /// Copies `values` (row-major) into a new array; their count must match the shape.
  template <class T>
  static Array from(Shape shape, std::span<const T> values) {
    Array a(std::move(shape), dtype_of<T>());
    if (static_cast<int64_t>(values.size()) != a.size())
      throw Error("[Array::from] " + std::to_string(values.size()) + " values for shape " +
                  to_string(a.shape()));
    std::memcpy(a.raw(), values.data(), a.nbytes());
    return a;
  }
  template <class T>
  static Array from(Shape shape, const std::vector<T>& values) {
    return from<T>(std::move(shape), std::span<const T>(values));
  }
  static Array from(Shape shape, std::initializer_list<float> values) {
    return from<float>(std::move(shape), std::span<const float>(values.begin(), values.size()));
  }
  template <class T>
  static Array scalar(T value) { return from<T>({}, std::span<const T>(&value, 1)); }

  const Shape& shape() const { return shape_; }
  /// Extent of `axis`; negative counts from the end.
  int64_t shape(int64_t axis) const;
  int64_t ndim() const { return static_cast<int64_t>(shape_.size()); }
  DType dtype() const { return dtype_; }
  int64_t size() const { return numel(shape_); }
  size_t nbytes() const { return static_cast<size_t>(size()) * itemsize(dtype_); }
  bool defined() const { return storage_ != nullptr; }

  void* raw() { return storage_.get(); }
  const void* raw() const { return storage_.get(); }
  /// Typed view of the elements; throws if T does not match the dtype.
  template <class T> T* data() { check<T>(); return static_cast<T*>(raw()); }
  template <class T> const T* data() const { check<T>(); return static_cast<const T*>(raw()); }
  template <class T> std::span<const T> values() const { return {data<T>(), static_cast<size_t>(size())}; }
  template <class T> std::vector<T> to_vector() const {
    auto v = values<T>();
    return {v.begin(), v.end()};
  }
  /// The element at flat index `i`, converted to double (any dtype).
  double at(int64_t i) const;
  /// Stores `value` at flat position i in the array's dtype: floats round, integers wrap.
  void set(int64_t i, double value);
  /// The single element of a size-1 array.
  template <class T> T item() const {
    if (size() != 1) throw Error("[Array::item] array of shape " + to_string(shape_) + " is not a scalar");
    return data<T>()[0];
  }

  Array clone() const;
  /// Same buffer, new shape with the same element count.
  Array reshape(Shape shape) const;
  /// Converts every element to `dtype` (a copy).
  Array astype(DType dtype) const;
  /// True when shapes, dtypes and every byte agree.
  bool bitwise_equal(const Array& other) const;

 private:
  template <class T> void check() const {
    if (dtype_of<T>() != dtype_)
      throw Error(std::string("[Array] element type ") + name(dtype_of<T>()) + " requested from a " +
                  name(dtype_) + " array");
  }

  Shape shape_;
  DType dtype_ = DType::f32;
  std::shared_ptr<std::byte[]> storage_;
};

/// "f32[2, 3] {1, 2, 3, 4, 5, 6}" (elided when long).
std::string to_string(const Array& array);

/// Gives back to the system the memory zephyr keeps for reuse: freed Arrays' and compiled code's
/// buffers (up to 2 GiB, so that a training step's same-sized buffers do not fault their pages in
/// every call). Live Arrays are untouched; the next buffers start cold, as in a new process.
void release_pooled_memory();

}  // namespace zephyr
