// Max and average pooling over the spatial axes of channels-last input.
#include "zephyr/nets/conv.h"

#include "layer.h"

namespace zephyr::nets {
namespace {

struct Window {
  Shape window, stride;  // over every axis of x
  Padding padding;       // over every axis of x
  size_t first;          // first spatial axis
};

Window resolve_window(const Tensor& x, const Shape& window, const Shape& stride, const PaddingSpec& spec,
                      const SourceLoc& where, const char* layer) {
  size_t d = window.size(), rank = x.shape().size();
  if (d == 0 || rank < d + 1)
    fail_at(where, layer, fmt::format("a {}-D window {} needs an input of rank >= {} (spatial..., channels), got {}", d,
                                      to_string(window), d + 1, to_string(x.shape())));
  Shape steps = detail::per_axis(stride, d, where, layer, "stride");
  size_t first = rank - 1 - d;
  Shape spatial(x.shape().begin() + first, x.shape().end() - 1);
  Padding pads;
  if (spec.preset == "SAME") pads = same_padding(spatial, window, steps);
  else if (spec.preset == "VALID") pads = Padding(d, {0, 0});
  else if (spec.preset.empty() && spec.pairs.size() == d) pads = spec.pairs;
  else fail_at(where, layer, fmt::format("padding must be SAME, VALID or {} (low, high) pairs", d));
  Window w{Shape(rank, 1), Shape(rank, 1), Padding(rank, {0, 0}), first};
  for (size_t i = 0; i < d; ++i) {
    w.window[first + i] = window[i];
    w.stride[first + i] = steps[i];
    w.padding[first + i] = pads[i];
  }
  return w;
}

// Per output position, how many window elements fall inside the input (the product over axes).
Array window_counts(const Tensor& x, const Window& w, const Shape& out_shape) {
  Shape count_shape(out_shape.size(), 1);
  for (size_t a = w.first; a + 1 < out_shape.size(); ++a) count_shape[a] = out_shape[a];
  Array counts = Array::full(count_shape, 1.0, x.dtype());
  for (int64_t flat = 0; flat < counts.size(); ++flat) {
    int64_t rest = flat;
    double total = 1;
    for (int64_t a = static_cast<int64_t>(count_shape.size()) - 1; a >= 0; --a) {
      int64_t o = rest % count_shape[a];
      rest /= count_shape[a];
      if (count_shape[a] == 1 && w.window[a] == 1) continue;
      int64_t inside = 0;
      for (int64_t k = 0; k < w.window[a]; ++k) {
        int64_t i = o * w.stride[a] + k - w.padding[a].first;
        inside += i >= 0 && i < x.shape()[a];
      }
      total *= static_cast<double>(inside);
    }
    counts.set(flat, total);
  }
  return counts;
}

}  // namespace

Tensor max_pool(Tensor x, const Shape& window, const Shape& stride, const PaddingSpec& padding, Loc loc) {
  Window w = resolve_window(x, window, stride, padding, SourceLoc::from(loc), "max_pool");
  return window_max(x, w.window, w.stride, w.padding, loc);
}

Tensor avg_pool(Tensor x, const Shape& window, const Shape& stride, const PaddingSpec& padding, Loc loc) {
  SourceLoc where = SourceLoc::from(loc);
  if (!is_float(x.dtype())) fail_at(where, "avg_pool", "needs a float input, got " + describe(x.dtype(), x.shape()));
  Window w = resolve_window(x, window, stride, padding, where, "avg_pool");
  Tensor sums = window_sum(x, w.window, w.stride, w.padding, loc);
  bool padded = false;
  for (const auto& [low, high] : w.padding) padded |= low > 0 || high > 0;
  if (!padded) return div(sums, scalar(static_cast<double>(numel(w.window)), x.dtype(), loc), loc);
  return div(sums, constant(window_counts(x, w, sums.shape()), loc), loc);
}

}  // namespace zephyr::nets
