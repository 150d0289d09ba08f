// What the reference-loop tests share: row-major index arithmetic written out independently of
// zephyr, random inputs, and the comparison of a result with a reference.
#pragma once

#include <doctest/doctest.h>
#include <zephyr/zephyr.h>

#include <cmath>
#include <string>
#include <vector>

namespace zephyr::testing {

inline int64_t count(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

inline Shape unravel(int64_t flat, const Shape& shape) {
  Shape index(shape.size());
  for (size_t i = shape.size(); i-- > 0;) {
    index[i] = flat % shape[i];
    flat /= shape[i];
  }
  return index;
}

inline int64_t ravel(const Shape& index, const Shape& shape) {
  int64_t flat = 0;
  for (size_t i = 0; i < shape.size(); ++i) flat = flat * shape[i] + index[i];
  return flat;
}

/// Compile options on `n` threads: kernel tests run on 1 and 2.
inline compiler::Options on_threads(int n) {
  compiler::Options o;
  o.threads = n;
  return o;
}

inline Array random_array(const Shape& shape, uint64_t seed, DType dtype = DType::f32, double lo = -1, double hi = 1) {
  return random::uniform(random::key(seed), shape, dtype, lo, hi);
}

/// A reference result: its shape and values (computed in double).
struct Ref {
  Shape shape;
  std::vector<double> values;
};

/// |got - want| <= tol * max(1, |want|) everywhere (infinities must match), with equal shapes.
inline void check_close(const Array& got, const Ref& want, double tol, const std::string& what) {
  INFO(what);
  REQUIRE(got.shape() == want.shape);
  REQUIRE(got.size() == static_cast<int64_t>(want.values.size()));
  int bad = 0;
  for (int64_t i = 0; i < got.size(); ++i) {
    double g = got.at(i), w = want.values[i];
    bool ok = (std::isinf(w) && g == w) || std::abs(g - w) <= tol * std::max(1.0, std::abs(w));
    if (!ok && bad++ < 5) CHECK_MESSAGE(false, what << ": element " << i << " got " << g << ", want " << w);
  }
  CHECK_MESSAGE(bad == 0, what << ": " << bad << " of " << got.size() << " elements differ");
}


// A direct convolution, as XLA's conv_general_dilated with NHWC / HWIO layouts:
// out[b, o..., f] = sum over kernel offsets k..., c in group(f) of
//   x[b, (o * stride + k * rate - low) / lhs_dilation ..., c] * w[k..., c - group start, f]
// where the input position must be a whole multiple of lhs_dilation inside the input.
inline Ref reference_conv(const Array& x, const std::vector<double>& w, const Shape& w_shape, const ConvSpec& spec) {
  int64_t d = static_cast<int64_t>(w_shape.size()) - 2, batch = x.shape(0), channels = x.shape(-1);
  int64_t outs = w_shape.back(), g = spec.groups, cg = channels / g, og = outs / g;
  auto get = [](const Shape& s, int64_t i) { return s.empty() ? int64_t{1} : s[i]; };
  Shape in_sp(d), k_sp(d), out_sp(d), s(d), ld(d), rd(d), lo(d);
  for (int64_t i = 0; i < d; ++i) {
    in_sp[i] = x.shape(1 + i);
    k_sp[i] = w_shape[i];
    s[i] = get(spec.strides, i);
    ld[i] = get(spec.lhs_dilation, i);
    rd[i] = get(spec.rhs_dilation, i);
    lo[i] = spec.padding.empty() ? 0 : spec.padding[i].first;
    int64_t hi = spec.padding.empty() ? 0 : spec.padding[i].second;
    int64_t padded = (in_sp[i] - 1) * ld[i] + 1 + lo[i] + hi, extent = (k_sp[i] - 1) * rd[i] + 1;
    out_sp[i] = (padded - extent) / s[i] + 1;
  }
  Shape out_shape{batch};
  out_shape.insert(out_shape.end(), out_sp.begin(), out_sp.end());
  out_shape.push_back(outs);
  Ref r{out_shape, std::vector<double>(count(out_shape), 0.0)};
  Shape x_index(d + 2), w_index(d + 2);
  for (int64_t f = 0; f < count(out_shape); ++f) {
    Shape o = unravel(f, out_shape);
    int64_t feature = o[d + 1], group = feature / og;
    double acc = 0;
    for (int64_t kf = 0; kf < count(k_sp); ++kf) {
      Shape k = unravel(kf, k_sp);
      bool inside = true;
      for (int64_t i = 0; i < d && inside; ++i) {
        int64_t q = o[1 + i] * s[i] + k[i] * rd[i] - lo[i];
        if (q < 0 || q % ld[i] != 0 || q / ld[i] >= in_sp[i]) inside = false;
        else x_index[1 + i] = q / ld[i];
        w_index[i] = k[i];
      }
      if (!inside) continue;
      x_index[0] = o[0];
      for (int64_t c = 0; c < cg; ++c) {
        x_index[d + 1] = group * cg + c;
        w_index[d] = c;
        w_index[d + 1] = feature;
        acc += x.at(ravel(x_index, x.shape())) * w[ravel(w_index, w_shape)];
      }
    }
    r.values[f] = acc;
  }
  return r;
}

}  // namespace zephyr::testing
