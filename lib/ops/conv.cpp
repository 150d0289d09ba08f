// Convolution and window reductions, composed from pad, strided_slice, concat and matmul:
// im2col turns every convolution into one matmul per group, so convolutions run on the tuned
// matmul kernel and get their gradients from the primitives' VJP rules.
#include <fmt/format.h>

#include <functional>

#include "zephyr/ops.h"

namespace zephyr {
namespace {

Shape or_ones(const Shape& s, size_t n) { return s.empty() ? Shape(n, 1) : s; }

void check_count(const SourceLoc& where, const char* op, const char* what, size_t got, size_t want) {
  if (got != want)
    fail_at(where, op, fmt::format("needs {} {} (one per spatial axis), got {}", want, what, got));
}

// Calls f(offsets) for every multi-index in [0, extents) (row-major).
void for_each_offset(const Shape& extents, const std::function<void(const Shape&)>& f) {
  Shape index(extents.size(), 0);
  for (int64_t flat = 0; flat < numel(extents); ++flat) {
    f(index);
    for (int64_t i = static_cast<int64_t>(extents.size()) - 1; i >= 0; --i) {
      if (++index[i] < extents[i]) break;
      index[i] = 0;
    }
  }
}

}  // namespace

Padding same_padding(const Shape& input, const Shape& window, const Shape& strides, const Shape& dilation) {
  Padding out;
  Shape s = or_ones(strides, input.size()), d = or_ones(dilation, input.size());
  for (size_t i = 0; i < input.size(); ++i) {
    int64_t extent = (window[i] - 1) * d[i] + 1;
    int64_t outputs = (input[i] + s[i] - 1) / s[i];
    int64_t total = std::max<int64_t>((outputs - 1) * s[i] + extent - input[i], 0);
    out.emplace_back(total / 2, total - total / 2);
  }
  return out;
}

Tensor conv(const Tensor& x, const Tensor& w, const ConvSpec& spec, Loc loc) {
  SourceLoc where = SourceLoc::from(loc);
  const char* op = "conv";
  int64_t d = w.ndim() - 2;
  if (d < 1) fail_at(where, op, fmt::format("kernel {} needs rank >= 3 (spatial..., in, out)", to_string(w.shape())));
  if (x.ndim() != d + 2)
    fail_at(where, op, fmt::format("input {} must have rank {} (batch, {} spatial, channels) for kernel {}",
                                   to_string(x.shape()), d + 2, d, to_string(w.shape())));
  if (x.dtype() != w.dtype() || !is_float(x.dtype()))
    fail_at(where, op, fmt::format("needs float operands of one dtype, got {} and {}", describe(x.dtype(), x.shape()),
                                   describe(w.dtype(), w.shape())));
  int64_t channels = x.shape(-1), groups = spec.groups, outputs = w.shape(-1);
  if (groups < 1 || channels % groups != 0 || outputs % groups != 0)
    fail_at(where, op, fmt::format("{} input and {} output channels are not divisible by {} groups", channels, outputs,
                                   groups));
  if (w.shape(-2) != channels / groups)
    fail_at(where, op, fmt::format("kernel {} expects {} input channels per group; input {} has {} in {} groups",
                                   to_string(w.shape()), w.shape(-2), to_string(x.shape()), channels, groups));
  Shape strides = or_ones(spec.strides, d), lhs = or_ones(spec.lhs_dilation, d), rate = or_ones(spec.rhs_dilation, d);
  Padding padding = spec.padding.empty() ? Padding(d, {0, 0}) : spec.padding;
  check_count(where, op, "strides", strides.size(), d);
  check_count(where, op, "input dilations", lhs.size(), d);
  check_count(where, op, "kernel dilations", rate.size(), d);
  check_count(where, op, "(low, high) paddings", padding.size(), d);

  Shape low(d + 2, 0), high(d + 2, 0), interior(d + 2, 0);
  for (int64_t i = 0; i < d; ++i) {
    if (strides[i] < 1 || lhs[i] < 1 || rate[i] < 1)
      fail_at(where, op, fmt::format("strides and dilations must be >= 1 (spatial axis {})", i));
    std::tie(low[i + 1], high[i + 1]) = padding[i];
    interior[i + 1] = lhs[i] - 1;
  }
  Tensor padded = pad(x, low, high, interior, 0.0, loc);

  Shape out_spatial(d), kernel(w.shape().begin(), w.shape().begin() + d);
  for (int64_t i = 0; i < d; ++i) {
    int64_t extent = (kernel[i] - 1) * rate[i] + 1, available = padded.shape(i + 1);
    if (available < extent)
      fail_at(where, op, fmt::format("window {} (dilated extent {}) is larger than the padded input {} on spatial axis {} "
                                     "(input {}, kernel {})",
                                     kernel[i], extent, available, i, to_string(x.shape()), to_string(w.shape())));
    out_spatial[i] = (available - extent) / strides[i] + 1;
  }
  int64_t batch = x.shape(0), per_group_in = channels / groups, per_group_out = outputs / groups;
  int64_t rows = batch * numel(out_spatial);

  std::vector<Tensor> results;
  for (int64_t g = 0; g < groups; ++g) {
    Tensor xg = groups == 1 ? padded : slice(padded, -1, g * per_group_in, (g + 1) * per_group_in, 1, loc);
    std::vector<Tensor> patches;
    for_each_offset(kernel, [&](const Shape& k) {
      Shape starts{0}, sizes{batch}, steps{1};
      for (int64_t i = 0; i < d; ++i) {
        starts.push_back(k[i] * rate[i]);
        sizes.push_back(out_spatial[i]);
        steps.push_back(strides[i]);
      }
      starts.push_back(0);
      sizes.push_back(per_group_in);
      steps.push_back(1);
      patches.push_back(strided_slice(xg, starts, sizes, steps, loc));
    });
    // (rows, kernel... * in): kernel offsets major, channels minor, as w's row-major layout.
    Tensor columns = reshape(concat(patches, -1, loc), {rows, -1}, loc);
    Tensor wg = groups == 1 ? w : slice(w, -1, g * per_group_out, (g + 1) * per_group_out, 1, loc);
    results.push_back(matmul(columns, reshape(wg, {-1, per_group_out}, loc), loc));
  }
  Shape out_shape{batch};
  out_shape.insert(out_shape.end(), out_spatial.begin(), out_spatial.end());
  out_shape.push_back(outputs);
  return reshape(concat(results, -1, loc), out_shape, loc);
}

namespace {

Tensor window_reduce(const Tensor& x, const Shape& window, const Shape& strides, const Padding& padding, bool is_max,
                     Loc loc) {
  SourceLoc where = SourceLoc::from(loc);
  const char* op = is_max ? "max_pool" : "avg_pool";
  size_t rank = x.shape().size();
  if (window.size() != rank || strides.size() != rank || (!padding.empty() && padding.size() != rank))
    fail_at(where, op, fmt::format("window {}, strides {} and padding need one entry per axis of {}",
                                   to_string(window), to_string(strides), to_string(x.shape())));
  Shape low(rank, 0), high(rank, 0);
  for (size_t i = 0; i < rank && !padding.empty(); ++i) std::tie(low[i], high[i]) = padding[i];
  double identity = is_max ? -std::numeric_limits<double>::infinity() : 0.0;
  Tensor padded = pad(x, low, high, {}, identity, loc);
  Shape sizes(rank);
  for (size_t i = 0; i < rank; ++i) {
    if (window[i] < 1 || strides[i] < 1)
      fail_at(where, op, fmt::format("window {} and strides {} must be >= 1", to_string(window), to_string(strides)));
    if (padded.shape()[i] < window[i])
      fail_at(where, op, fmt::format("window {} is larger than the padded input {} (axis {})", to_string(window),
                                     to_string(padded.shape()), i));
    sizes[i] = (padded.shape()[i] - window[i]) / strides[i] + 1;
  }
  // Windows that tile the input exactly (stride = window, the usual 2x2 pooling) are a reshape
  // and a reduction: one loop nest forward, and an elementwise gradient without any padding.
  // Only windowed axes are split: NHWC 2x2 pooling reduces [n, h/2, 2, w/2, 2, c], whose rank (6)
  // the compiler still vectorizes, along the channels. Splitting every axis gave rank 8 with a
  // unit innermost axis: the gradient's mask nest stayed scalar loops.
  bool tiles = true;
  for (size_t i = 0; i < rank; ++i) tiles &= strides[i] == window[i] && padded.shape()[i] % window[i] == 0;
  if (tiles) {
    Shape split;
    Axes inner;
    for (size_t i = 0; i < rank; ++i) {
      split.push_back(sizes[i]);
      if (window[i] == 1) continue;
      split.push_back(window[i]);
      inner.push_back(static_cast<int64_t>(split.size() - 1));
    }
    if (inner.empty()) return padded;  // 1x1 windows: every window is one element
    Tensor blocks = reshape(padded, split, loc);
    return is_max ? max(blocks, inner, false, loc) : sum(blocks, inner, false, loc);
  }
  Tensor acc;
  for_each_offset(window, [&](const Shape& k) {
    Tensor part = strided_slice(padded, k, sizes, strides, loc);
    acc = !acc.defined() ? part : is_max ? maximum(acc, part, loc) : add(acc, part, loc);
  });
  return acc;
}

}  // namespace

Tensor window_max(const Tensor& x, const Shape& window, const Shape& strides, const Padding& padding, Loc loc) {
  return window_reduce(x, window, strides, padding, true, loc);
}
Tensor window_sum(const Tensor& x, const Shape& window, const Shape& strides, const Padding& padding, Loc loc) {
  return window_reduce(x, window, strides, padding, false, loc);
}

}  // namespace zephyr
