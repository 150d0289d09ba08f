#include "zephyr/losses.h"

#include "zephyr/checks.h"

#include <fmt/format.h>

namespace zephyr::losses {
namespace {

void require_labels(const Tensor& logits, const Tensor& labels, const char* op, const SourceLoc& where) {
  if (labels.dtype() != DType::i32)
    fail_at(where, op, fmt::format("labels must be i32 class ids, got {}", describe(labels.dtype(), labels.shape())));
  Shape batch(logits.shape().begin(), logits.shape().end() - 1);
  if (logits.ndim() < 1 || labels.shape() != batch)
    fail_at(where, op, fmt::format("labels {} do not match logits {} (expected labels of shape {})",
                                   to_string(labels.shape()), to_string(logits.shape()), to_string(batch)));
}

// 0 <= labels < classes, elementwise.
Tensor logical_and_range(const Tensor& labels, int64_t classes, Loc loc) {
  Tensor low = cast(greater_equal(labels, scalar(0, DType::i32, loc), loc), DType::i32, loc);
  Tensor high = cast(less(labels, scalar(static_cast<double>(classes), DType::i32, loc), loc), DType::i32, loc);
  return equal(mul(low, high, loc), scalar(1, DType::i32, loc), loc);
}

}  // namespace

Tensor mse(const Tensor& prediction, const Tensor& target, Loc loc) {
  if (prediction.shape() != target.shape())
    fail_at(SourceLoc::from(loc), "mse", fmt::format("prediction {} and target {} differ in shape",
                                                     to_string(prediction.shape()), to_string(target.shape())));
  Tensor d = sub(prediction, target, loc);
  return mean(mul(d, d, loc), {}, false, loc);
}

Tensor one_hot(const Tensor& labels, int64_t classes, DType dtype, Loc loc) {
  Shape shape = labels.shape();
  shape.push_back(classes);
  Tensor ids = iota(shape, -1, DType::i32, loc);
  return cast(equal(ids, expand_dims(labels, -1, loc), loc), dtype, loc);
}

Tensor softmax_cross_entropy(const Tensor& logits, const Tensor& labels, Loc loc) {
  SourceLoc where = SourceLoc::from(loc);
  require_labels(logits, labels, "softmax_cross_entropy", where);
  int64_t classes = logits.shape(-1);
  runtime_check(logical_and_range(labels, classes, loc),
                fmt::format("{}{}[softmax_cross_entropy] labels outside [0, {})", where.str(), where.line ? ": " : "", classes));
  Tensor picked = sum(mul(log_softmax(logits, -1, loc), one_hot(labels, logits.shape(-1), logits.dtype(), loc), loc),
                      {-1}, false, loc);
  return neg(mean(picked, {}, false, loc), loc);
}

Tensor binary_cross_entropy(const Tensor& logits, const Tensor& targets, Loc loc) {
  if (logits.shape() != targets.shape())
    fail_at(SourceLoc::from(loc), "binary_cross_entropy",
            fmt::format("logits {} and targets {} differ in shape", to_string(logits.shape()), to_string(targets.shape())));
  // max(x, 0) - x·t + log(1 + e^-|x|). At x = 0 its slope is 1 - t - 1/2, exact only because
  // maximum and abs both give the tie to x (slope 1): relu's slope at 0 is 0, as in PyTorch.
  Tensor zero = scalar(0.0, logits.dtype(), loc);
  Tensor per = add(sub(maximum(logits, zero, loc), mul(logits, targets, loc), loc),
                   log(add(scalar(1.0, logits.dtype(), loc), exp(neg(abs(logits, loc), loc), loc), loc), loc), loc);
  return mean(per, {}, false, loc);
}

Tensor l2_penalty(const TensorTree& params, Loc loc) {
  Tensor total;
  for (const auto& [path, leaf] : params) {
    Tensor s = sum(mul(leaf, leaf, loc), {}, false, loc);
    total = total.defined() ? add(total, cast(s, total.dtype(), loc), loc) : s;  // mixed f32/f64 trees
  }
  return total.defined() ? mul(total, scalar(0.5, total.dtype(), loc), loc) : scalar(0.0, DType::f32, loc);
}

Tensor argmax(const Tensor& x, int64_t axis, Loc loc) {
  int64_t a = normalize_axis(axis, x.ndim(), "argmax");
  int64_t n = x.shape()[a];
  Tensor is_max = equal(x, max(x, {a}, true, loc), loc);
  Tensor ids = iota(x.shape(), a, DType::i32, loc);
  // The smallest index among the maxima: max of (n - index) where x is maximal.
  Tensor score = where(is_max, sub(scalar(static_cast<double>(n), DType::i32, loc), ids, loc),
                       scalar(0, DType::i32, loc), loc);
  return sub(scalar(static_cast<double>(n), DType::i32, loc), max(score, {a}, false, loc), loc);
}

void check_labels(const Array& labels, int64_t classes) {
  if (labels.dtype() != DType::i32)
    throw Error(fmt::format("[labels] must be i32 class ids, got {}", describe(labels.dtype(), labels.shape())));
  const int32_t* v = labels.data<int32_t>();
  for (int64_t i = 0; i < labels.size(); ++i)
    if (v[i] < 0 || v[i] >= classes)
      throw Error(fmt::format("[labels] label {} at position {} is outside [0, {})", v[i], i, classes));
}

}  // namespace zephyr::losses

namespace zephyr::metrics {

Tensor accuracy(const Tensor& logits, const Tensor& labels, Loc loc) {
  Tensor hit = cast(equal(losses::argmax(logits, -1, loc), labels, loc), DType::f32, loc);
  return mean(hit, {}, false, loc);
}

}  // namespace zephyr::metrics
