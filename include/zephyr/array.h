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

  /// Every element 0.
  static Array zeros(Shape shape, DType dtype = DType::f32);
  /// Every element 1.
  static Array ones(Shape shape, DType dtype = DType::f32);
  /// Every element `value`, converted to `dtype` as set() converts it.
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
  /// As from(shape, span), from a vector.
  template <class T>
  static Array from(Shape shape, const std::vector<T>& values) {
    return from<T>(std::move(shape), std::span<const T>(values));
  }
  /// f32 values from a braced list: `Array::from({2, 2}, {1, 2, 3, 4})`.
  static Array from(Shape shape, std::initializer_list<float> values) {
    return from<float>(std::move(shape), std::span<const float>(values.begin(), values.size()));
  }
  /// A 0-d array holding `value`, in T's dtype.
  template <class T>
  static Array scalar(T value) { return from<T>({}, std::span<const T>(&value, 1)); }

  /// Extent of every axis.
  const Shape& shape() const { return shape_; }
  /// Extent of `axis`; negative counts from the end.
  int64_t shape(int64_t axis) const;
  /// Number of axes.
  int64_t ndim() const { return static_cast<int64_t>(shape_.size()); }
  /// Element type.
  DType dtype() const { return dtype_; }
  /// Number of elements (1 for a 0-d array).
  int64_t size() const { return numel(shape_); }
  /// Bytes of element data: size() times the dtype's item size.
  size_t nbytes() const { return static_cast<size_t>(size()) * itemsize(dtype_); }
  /// False for a default-constructed Array, which has no buffer.
  bool defined() const { return storage_ != nullptr; }

  /// The untyped buffer (null when not defined).
  void* raw() { return storage_.get(); }
  /// The untyped buffer, read-only.
  const void* raw() const { return storage_.get(); }
  /// Typed view of the elements; throws if T does not match the dtype.
  template <class T> T* data() { check<T>(); return static_cast<T*>(raw()); }
  /// Read-only typed view; throws if T does not match the dtype.
  template <class T> const T* data() const { check<T>(); return static_cast<const T*>(raw()); }
  /// The elements as a span; throws if T does not match the dtype.
  template <class T> std::span<const T> values() const { return {data<T>(), static_cast<size_t>(size())}; }
  /// A copy of the elements; throws if T does not match the dtype.
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

  /// Deep copy: a new buffer with the same shape, dtype and bytes.
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
