// Every layer of include/zephyr/nets/*.h and the composition helpers of compose.h:
// (a) the traced parameter paths and shapes, (b) the jit-compiled forward pass against a
// reference written here as plain loops over the traced (then randomized) parameter arrays,
// (c) gradients w.r.t. the parameters against central finite differences in f64, and
// (d) errors that name the layer's parameter path and the shapes.
#include <doctest/doctest.h>
#include <zephyr/compose.h>
#include <zephyr/nets/attention.h>
#include <zephyr/nets/conv.h>
#include <zephyr/nets/embed.h>
#include <zephyr/nets/linear.h>
#include <zephyr/nets/norm.h>
#include <zephyr/random_ops.h>
#include <zephyr/zephyr.h>

#include "reference.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "test_support.h"

namespace z = zephyr;
namespace nets = zephyr::nets;
using z::Array;
using z::DType;
using z::ParamTree;
using z::Params;
using z::Shape;
using z::Tensor;

using namespace zephyr::testing;  // count, ravel, unravel, random_array, Ref, check_close

namespace {

// =============================================================================================
// Helpers: index arithmetic, inputs, comparisons (independent of zephyr's ops)
// =============================================================================================

std::vector<double> values_of(const Array& a) {
  std::vector<double> v(a.size());
  for (int64_t i = 0; i < a.size(); ++i) v[i] = a.at(i);
  return v;
}

// Every leaf replaced by uniform values in [lo, hi) of its shape and dtype (so that zero biases
// and unit scales cannot hide a missing term). `positive` paths get [0.5, 1.5).
ParamTree randomize(const ParamTree& tree, uint64_t seed, const std::vector<std::string>& positive = {}) {
  uint64_t i = 0;
  return z::map_with_path(tree, [&](const std::string& path, const Array& a) {
    bool pos = false;
    for (const std::string& p : positive) pos = pos || path.find(p) != std::string::npos;
    return random_array(a.shape(), seed * 1000 + i++, a.dtype(), pos ? 0.5 : -1.0, pos ? 1.5 : 1.0);
  });
}

ParamTree clone(const ParamTree& tree) {
  return z::map_with_path(tree, [](const std::string&, const Array& a) { return a.clone(); });
}

// The traced tree has exactly these paths (any order), shapes, and the given dtype.
void check_paths(const ParamTree& tree, std::vector<std::pair<std::string, Shape>> expected, DType dtype,
                 const std::string& what) {
  INFO(what);
  INFO("tree:\n", tree.str());
  std::map<std::string, Shape> got;
  for (const auto& [path, a] : tree) {
    got[path] = a.shape();
    CHECK_MESSAGE(a.dtype() == dtype, path << " has dtype " << z::name(a.dtype()));
  }
  std::map<std::string, Shape> want(expected.begin(), expected.end());
  for (const auto& [path, shape] : want) {
    auto it = got.find(path);
    CHECK_MESSAGE(it != got.end(), "missing path " << path);
    if (it != got.end()) CHECK_MESSAGE(it->second == shape, path << " has shape " << z::to_string(it->second)
                                                                 << ", want " << z::to_string(shape));
  }
  for (const auto& [path, shape] : got) CHECK_MESSAGE(want.count(path) == 1, "unexpected path " << path);
}

// The gradient of sum(model(p, x) * W) w.r.t. every f64 leaf of `params` (W a fixed random
// cotangent) against central finite differences. Leaves whose path holds one of `frozen` must get
// a zero gradient instead.
template <class Model>
void check_param_grads(Model model, const ParamTree& params, const Array& x, const std::string& what,
                       const std::vector<std::string>& frozen = {}, double tol = 1e-6) {
  INFO(what);
  Array out = z::jit(model)(params, x);
  Array weights = random_array(out.shape(), 99, DType::f64);
  auto loss = [model, weights](Params p, Tensor t) {
    return z::sum(z::cast(model(p, t), DType::f64) * z::constant(weights));
  };
  ParamTree grads = z::grad(loss)(params, x);
  auto value = z::jit(loss);
  REQUIRE(grads.size() == params.size());
  const double h = 1e-6;
  int bad = 0;
  for (const auto& [path, a] : params) {
    REQUIRE(a.dtype() == DType::f64);
    const Array& g = grads.at(path);
    REQUIRE(g.shape() == a.shape());
    bool is_frozen = false;
    for (const std::string& f : frozen) is_frozen = is_frozen || path.find(f) != std::string::npos;
    for (int64_t i = 0; i < a.size(); ++i) {
      double numeric = 0;
      if (!is_frozen) {
        ParamTree plus = clone(params), minus = clone(params);
        Array p_leaf = plus.at(path), m_leaf = minus.at(path);
        p_leaf.data<double>()[i] += h;
        m_leaf.data<double>()[i] -= h;
        numeric = (value(plus, x).at(0) - value(minus, x).at(0)) / (2 * h);
      }
      double analytic = g.at(i);
      if (std::abs(analytic - numeric) > tol * std::max(1.0, std::abs(numeric)) && bad++ < 8)
        CHECK_MESSAGE(false, what << ": " << path << "[" << i << "] analytic " << analytic << ", "
                                  << (is_frozen ? "want 0 (no gradient)" : "numeric ") << numeric);
    }
  }
  CHECK_MESSAGE(bad == 0, what << ": " << bad << " gradient elements differ");
}

// =============================================================================================
// References
// =============================================================================================

// y = x @ W (+ b) over the last axis of x.
Ref ref_linear(const Array& x, const Array& w, const Array* b) {
  int64_t in = w.shape(0), out = w.shape(1), rows = x.size() / in;
  Shape shape = x.shape();
  shape.back() = out;
  Ref r{shape, std::vector<double>(rows * out)};
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < out; ++j) {
      double s = b ? b->at(j) : 0.0;
      for (int64_t k = 0; k < in; ++k) s += x.at(i * in + k) * w.at(k * out + j);
      r.values[i * out + j] = s;
    }
  return r;
}

// The same on plain vectors: rows x in times the (in, out) weights of `p` under `name`.
std::vector<double> affine(const std::vector<double>& x, int64_t rows, const ParamTree& p, const std::string& name,
                           bool bias = true) {
  const Array& w = p.at(name + "/weights");
  int64_t in = w.shape(0), out = w.shape(1);
  std::vector<double> y(rows * out);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < out; ++j) {
      double s = bias ? p.at(name + "/bias").at(j) : 0.0;
      for (int64_t k = 0; k < in; ++k) s += x[i * in + k] * w.at(k * out + j);
      y[i * out + j] = s;
    }
  return y;
}

Ref ref_conv(const Array& x, const std::vector<double>& w, const Shape& w_shape, const z::ConvSpec& spec) {
  return reference_conv(x, w, w_shape, spec);
}

// A conv layer: conv(x, weights [* mask]) + bias, batched input (unbatched callers reshape).
Ref ref_conv_layer(const Array& x, const ParamTree& p, const z::ConvSpec& spec, const Array* mask = nullptr) {
  const Array& w = p.at("weights");
  std::vector<double> wv = values_of(w);
  if (mask)
    for (size_t i = 0; i < wv.size(); ++i) wv[i] *= mask->at(static_cast<int64_t>(i));
  Ref r = ref_conv(x, wv, w.shape(), spec);
  if (p.contains("bias")) {
    const Array& b = p.at("bias");
    for (size_t i = 0; i < r.values.size(); ++i) r.values[i] += b.at(static_cast<int64_t>(i) % b.size());
  }
  return r;
}

// jax.lax._conv_transpose_padding for one axis: k is the dilated kernel extent.
std::pair<int64_t, int64_t> conv_transpose_padding(int64_t k, int64_t s, const std::string& padding) {
  int64_t pad_len, pad_a;
  if (padding == "SAME") {
    pad_len = k + s - 2;
    pad_a = s > k - 1 ? k - 1 : (pad_len + 1) / 2;
  } else {
    pad_len = k + s - 2 + std::max<int64_t>(k - s, 0);
    pad_a = k - 1;
  }
  return {pad_a, pad_len - pad_a};
}

// SAME padding computed here: output ceil(n / s), total = max((out - 1) * s + extent - n, 0), low = total / 2.
z::Padding same_pads(const Shape& input, const Shape& window, const Shape& strides, const Shape& rate = {}) {
  z::Padding out;
  for (size_t i = 0; i < input.size(); ++i) {
    int64_t s = strides[i], extent = (window[i] - 1) * (rate.empty() ? 1 : rate[i]) + 1;
    int64_t o = (input[i] + s - 1) / s, total = std::max<int64_t>((o - 1) * s + extent - input[i], 0);
    out.emplace_back(total / 2, total - total / 2);
  }
  return out;
}

// Pooling over spatial axes 1..d of (batch, spatial..., channels): max, or the mean of the real
// (unpadded) elements of each window.
Ref ref_pool(const Array& x, const Shape& window, const Shape& strides, const z::Padding& padding, bool is_max) {
  int64_t d = static_cast<int64_t>(window.size());
  Shape out_shape = x.shape();
  for (int64_t i = 0; i < d; ++i) {
    int64_t lo = padding.empty() ? 0 : padding[i].first, hi = padding.empty() ? 0 : padding[i].second;
    out_shape[1 + i] = (x.shape(1 + i) + lo + hi - window[i]) / strides[i] + 1;
  }
  Ref r{out_shape, std::vector<double>(count(out_shape))};
  for (int64_t f = 0; f < count(out_shape); ++f) {
    Shape o = unravel(f, out_shape), src = o;
    double acc = is_max ? -std::numeric_limits<double>::infinity() : 0.0;
    int64_t n = 0;
    for (int64_t kf = 0; kf < count(window); ++kf) {
      Shape k = unravel(kf, window);
      bool inside = true;
      for (int64_t i = 0; i < d && inside; ++i) {
        int64_t lo = padding.empty() ? 0 : padding[i].first;
        int64_t q = o[1 + i] * strides[i] + k[i] - lo;
        if (q < 0 || q >= x.shape(1 + i)) inside = false;
        else src[1 + i] = q;
      }
      if (!inside) continue;
      double v = x.at(ravel(src, x.shape()));
      acc = is_max ? std::max(acc, v) : acc + v;
      ++n;
    }
    r.values[f] = is_max ? acc : acc / static_cast<double>(n);
  }
  return r;
}

// (x - mean) / sqrt(var + eps) * scale + offset over `axis`; scale and offset hold one value per
// position on `axis` (whatever their rank), read by that position.
std::vector<double> ref_layer_norm(const std::vector<double>& x, const Shape& shape, int64_t axis, const Array* scale,
                                   const Array* offset, double eps = 1e-5) {
  int64_t rank = static_cast<int64_t>(shape.size());
  if (axis < 0) axis += rank;
  int64_t n = shape[axis], inner = 1;
  for (int64_t i = axis + 1; i < rank; ++i) inner *= shape[i];
  int64_t outer = count(shape) / (n * inner);
  std::vector<double> y(x.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t in = 0; in < inner; ++in) {
      auto at = [&](int64_t j) { return (o * n + j) * inner + in; };
      double mean = 0, var = 0;
      for (int64_t j = 0; j < n; ++j) mean += x[at(j)];
      mean /= n;
      for (int64_t j = 0; j < n; ++j) var += (x[at(j)] - mean) * (x[at(j)] - mean);
      var /= n;
      for (int64_t j = 0; j < n; ++j) {
        double v = (x[at(j)] - mean) / std::sqrt(var + eps);
        if (scale) v *= scale->at(j);
        if (offset) v += offset->at(j);
        y[at(j)] = v;
      }
    }
  return y;
}

using MaskFn = std::function<bool(int64_t batch, int64_t head, int64_t t, int64_t s)>;

// softmax(q k^T * scale) v for one (t, d) x (s, d) x (s, e) problem, masked entries excluded.
void attend(const double* q, const double* k, const double* v, int64_t t, int64_t s, int64_t d, int64_t e,
            int64_t q_stride, int64_t kv_stride, int64_t v_stride, double scale, const std::function<bool(int64_t, int64_t)>& keep,
            double* out, int64_t out_stride) {
  for (int64_t i = 0; i < t; ++i) {
    std::vector<double> score(s);
    double best = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < s; ++j) {
      double dot = 0;
      for (int64_t c = 0; c < d; ++c) dot += q[i * q_stride + c] * k[j * kv_stride + c];
      score[j] = dot * scale;
      if (keep(i, j)) best = std::max(best, score[j]);
    }
    double total = 0;
    for (int64_t j = 0; j < s; ++j) {
      score[j] = keep(i, j) ? std::exp(score[j] - best) : 0.0;
      total += score[j];
    }
    for (int64_t c = 0; c < e; ++c) {
      double acc = 0;
      for (int64_t j = 0; j < s; ++j) acc += score[j] / total * v[j * v_stride + c];
      out[i * out_stride + c] = acc;
    }
  }
}

// multi_head_attention: q (B, T, M), k and v (B, S, M), projections q_proj... out_proj of `p`.
std::vector<double> ref_mha(const ParamTree& p, const std::vector<double>& q, const std::vector<double>& k,
                            const std::vector<double>& v, int64_t batch, int64_t t, int64_t s, int64_t model,
                            int64_t heads, const MaskFn& keep, bool bias = true) {
  std::vector<double> Q = affine(q, batch * t, p, "q_proj", bias), K = affine(k, batch * s, p, "k_proj", bias),
                      V = affine(v, batch * s, p, "v_proj", bias);
  int64_t hd = model / heads;
  std::vector<double> combined(batch * t * model);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h)
      attend(&Q[(b * t) * model + h * hd], &K[(b * s) * model + h * hd], &V[(b * s) * model + h * hd], t, s, hd, hd,
             model, model, model, 1.0 / std::sqrt(static_cast<double>(hd)),
             [&](int64_t i, int64_t j) { return keep(b, h, i, j); }, &combined[(b * t) * model + h * hd], model);
  return affine(combined, batch * t, p, "out_proj", bias);
}

double gelu(double x) {
  const double c = std::sqrt(2.0 / M_PI);
  return 0.5 * x * (1.0 + std::tanh(c * (x + 0.044715 * x * x * x)));
}

MaskFn keep_all() {
  return [](int64_t, int64_t, int64_t, int64_t) { return true; };
}

Array bool_array(const Shape& shape, const std::function<bool(const Shape&)>& f) {
  Array a(shape, DType::bool_);
  for (int64_t i = 0; i < a.size(); ++i) a.data<bool>()[i] = f(unravel(i, shape));
  return a;
}

}  // namespace

// =============================================================================================
// Linear layers
// =============================================================================================

TEST_CASE("nets linear: paths, shapes, forward with and without bias, batched input") {
  auto model = [](Params p, Tensor x) { return nets::linear(p["dense"], x, 5); };
  Array x = random_array({2, 3, 4}, 1);
  ParamTree traced = z::trace(model, z::random::key(0), x);
  check_paths(traced, {{"dense/weights", {4, 5}}, {"dense/bias", {5}}}, DType::f32, "linear");
  ParamTree params = randomize(traced, 1);
  ParamTree sub = params["dense"];
  Array b = sub.at("bias");
  check_close(z::jit(model)(params, x), ref_linear(x, sub.at("weights"), &b), 1e-5, "linear forward");

  auto no_bias = [](Params p, Tensor x) { return nets::linear(p, x, 3, false); };
  ParamTree nb = randomize(z::trace(no_bias, z::random::key(0), x), 2);
  check_paths(nb, {{"weights", {4, 3}}}, DType::f32, "linear without bias");
  check_close(z::jit(no_bias)(nb, x), ref_linear(x, nb.at("weights"), nullptr), 1e-5, "linear forward, no bias");

  // f64 input: f64 parameters.
  Array x64 = random_array({3, 4}, 3, DType::f64);
  ParamTree t64 = z::trace(model, z::random::key(0), x64);
  check_paths(t64, {{"dense/weights", {4, 5}}, {"dense/bias", {5}}}, DType::f64, "linear f64");
  check_param_grads(model, randomize(t64, 4), x64, "linear gradient");
}

TEST_CASE("nets branch_linear and linear_like: shapes and forward") {
  auto branch = [](Params p, Tensor x) { return nets::branch_linear(p["branch"], x, 3); };
  Array x = random_array({2, 5, 4}, 5);
  ParamTree params = randomize(z::trace(branch, z::random::key(0), x), 6);
  check_paths(params, {{"branch/weights", {4, 12}}, {"branch/bias", {12}}}, DType::f32, "branch_linear");
  Array b = params.at("branch/bias");
  Ref flat = ref_linear(x, params.at("branch/weights"), &b);
  Array y = z::jit(branch)(params, x);
  check_close(y, {{2, 5, 3, 4}, flat.values}, 1e-5, "branch_linear forward (y[..., branch, e] = flat[..., branch*e + e])");

  auto like = [](Params p, Tensor x, Tensor reference) { return nets::linear_like(p["like"], x, reference); };
  Array reference = random_array({7, 6}, 7);
  ParamTree lp = randomize(z::trace(like, z::random::key(0), x, reference), 8);
  check_paths(lp, {{"like/weights", {4, 6}}, {"like/bias", {6}}}, DType::f32, "linear_like");
  Array lb = lp.at("like/bias");
  check_close(z::jit(like)(lp, x, reference), ref_linear(x, lp.at("like/weights"), &lb), 1e-5, "linear_like forward");
}

// =============================================================================================
// Convolutions
// =============================================================================================

TEST_CASE("nets conv_2d: paths, SAME default, strides, VALID with rate, explicit padding, unbatched") {
  Array x = random_array({2, 6, 5, 3}, 10);
  {
    auto model = [](Params p, Tensor t) { return nets::conv_2d(p["conv"], t, 4, {3, 3}); };
    ParamTree traced = z::trace(model, z::random::key(0), x);
    check_paths(traced, {{"conv/weights", {3, 3, 3, 4}}, {"conv/bias", {4}}}, DType::f32, "conv_2d");
    ParamTree params = randomize(traced, 11);
    Array y = z::jit(model)(params, x);
    CHECK(y.shape() == Shape{2, 6, 5, 4});
    check_close(y, ref_conv_layer(x, params["conv"], {{1, 1}, same_pads({6, 5}, {3, 3}, {1, 1}), {}, {}, 1}), 1e-5,
                "conv_2d SAME");
    // Unbatched input: the same as a batch of one.
    Array x1 = random_array({6, 5, 3}, 12);
    Array y1 = z::jit(model)(params, x1);
    Ref r1 = ref_conv_layer(x1.reshape({1, 6, 5, 3}), params["conv"], {{1, 1}, same_pads({6, 5}, {3, 3}, {1, 1}), {}, {}, 1});
    check_close(y1, {{6, 5, 4}, r1.values}, 1e-5, "conv_2d unbatched");
  }
  {
    nets::ConvOptions o;
    o.stride = {2};  // one value for both axes
    auto model = [o](Params p, Tensor t) { return nets::conv_2d(p, t, 4, {3, 2}, o); };
    ParamTree params = randomize(z::trace(model, z::random::key(0), x), 13);
    Array y = z::jit(model)(params, x);
    CHECK(y.shape() == Shape{2, 3, 3, 4});
    check_close(y, ref_conv_layer(x, params, {{2, 2}, same_pads({6, 5}, {3, 2}, {2, 2}), {}, {}, 1}), 1e-5,
                "conv_2d SAME stride 2");
  }
  {
    nets::ConvOptions o;
    o.padding = "VALID";
    o.rate = {2, 1};
    o.stride = {1, 2};
    auto model = [o](Params p, Tensor t) { return nets::conv_2d(p, t, 2, {2, 3}, o); };
    ParamTree params = randomize(z::trace(model, z::random::key(0), x), 14);
    check_close(z::jit(model)(params, x), ref_conv_layer(x, params, {{1, 2}, {}, {}, {2, 1}, 1}), 1e-5,
                "conv_2d VALID, rate (2, 1), stride (1, 2)");
  }
  {
    nets::ConvOptions o;
    o.padding = z::Padding{{2, 0}, {1, 3}};
    o.with_bias = false;
    auto model = [o](Params p, Tensor t) { return nets::conv_2d(p, t, 3, {2, 2}, o); };
    ParamTree params = randomize(z::trace(model, z::random::key(0), x), 15);
    check_paths(params, {{"weights", {2, 2, 3, 3}}}, DType::f32, "conv_2d without bias");
    check_close(z::jit(model)(params, x), ref_conv_layer(x, params, {{1, 1}, {{2, 0}, {1, 3}}, {}, {}, 1}), 1e-5,
                "conv_2d explicit padding, no bias");
  }
  {
    nets::ConvOptions o;
    o.padding = "VALID";
    o.dilation = {2};  // input dilation
    auto model = [o](Params p, Tensor t) { return nets::conv_2d(p, t, 2, {3, 3}, o); };
    ParamTree params = randomize(z::trace(model, z::random::key(0), x), 16);
    check_close(z::jit(model)(params, x), ref_conv_layer(x, params, {{1, 1}, {}, {2, 2}, {}, 1}), 1e-5,
                "conv_2d input dilation 2, VALID");
  }
  {
    nets::ConvOptions o;
    o.bias_init = z::init::ones;
    auto model = [o](Params p, Tensor t) { return nets::conv_2d(p, t, 2, {1, 1}, o); };
    ParamTree traced = z::trace(model, z::random::key(0), x);
    CHECK(traced.at("bias").to_vector<float>() == std::vector<float>{1, 1});
  }
}

TEST_CASE("nets conv_2d with groups: two groups and depthwise") {
  Array x = random_array({2, 5, 4, 4}, 17);
  {
    nets::ConvOptions o;
    o.groups = 2;
    auto model = [o](Params p, Tensor t) { return nets::conv_2d(p, t, 6, {3, 2}, o); };
    ParamTree params = randomize(z::trace(model, z::random::key(0), x), 18);
    check_paths(params, {{"weights", {3, 2, 2, 6}}, {"bias", {6}}}, DType::f32, "conv_2d groups 2");
    check_close(z::jit(model)(params, x),
                ref_conv_layer(x, params, {{1, 1}, same_pads({5, 4}, {3, 2}, {1, 1}), {}, {}, 2}), 1e-5,
                "conv_2d groups 2");
  }
  {
    nets::ConvOptions o;
    o.groups = 4;
    o.padding = "VALID";
    auto model = [o](Params p, Tensor t) { return nets::conv_2d(p, t, 8, {2, 2}, o); };
    ParamTree params = randomize(z::trace(model, z::random::key(0), x), 19);
    check_paths(params, {{"weights", {2, 2, 1, 8}}, {"bias", {8}}}, DType::f32, "depthwise");
    check_close(z::jit(model)(params, x), ref_conv_layer(x, params, {{1, 1}, {}, {}, {}, 4}), 1e-5, "depthwise");
  }
}

TEST_CASE("nets conv_1d: batched and unbatched, causal kernel mask, input dilation") {
  Array x = random_array({2, 8, 3}, 20);
  Array mask(Shape{3, 3, 4}, DType::f32);
  for (int64_t i = 0; i < mask.size(); ++i) mask.data<float>()[i] = unravel(i, {3, 3, 4})[0] == 2 ? 0.0f : 1.0f;
  nets::ConvOptions o;
  o.padding = z::Padding{{2, 0}};
  auto model = [o, mask](Params p, Tensor t) {
    nets::ConvOptions with_mask = o;
    with_mask.mask = z::constant(mask);
    return nets::conv_1d(p["causal"], t, 4, {3}, with_mask);
  };
  ParamTree traced = z::trace(model, z::random::key(0), x);
  check_paths(traced, {{"causal/weights", {3, 3, 4}}, {"causal/bias", {4}}}, DType::f32, "conv_1d");
  ParamTree params = randomize(traced, 21);
  check_close(z::jit(model)(params, x), ref_conv_layer(x, params["causal"], {{1}, {{2, 0}}, {}, {}, 1}, &mask), 1e-5,
              "conv_1d with a kernel mask");
  Array x1 = random_array({8, 3}, 22);
  Ref r1 = ref_conv_layer(x1.reshape({1, 8, 3}), params["causal"], {{1}, {{2, 0}}, {}, {}, 1}, &mask);
  check_close(z::jit(model)(params, x1), {{8, 4}, r1.values}, 1e-5, "conv_1d unbatched");

  nets::ConvOptions d;
  d.padding = "VALID";
  d.dilation = {3};
  d.stride = {2};
  auto dilated = [d](Params p, Tensor t) { return nets::conv_1d(p, t, 2, {2}, d); };
  ParamTree dp = randomize(z::trace(dilated, z::random::key(0), x), 23);
  check_close(z::jit(dilated)(dp, x), ref_conv_layer(x, dp, {{2}, {}, {3}, {}, 1}), 1e-5,
              "conv_1d input dilation 3, stride 2");
}

TEST_CASE("nets conv_3d: batched and unbatched, SAME with strides") {
  Array x = random_array({2, 4, 3, 5, 2}, 24);
  nets::ConvOptions o;
  o.stride = {1, 2, 2};
  auto model = [o](Params p, Tensor t) { return nets::conv_3d(p["c3"], t, 3, {2, 2, 3}, o); };
  ParamTree traced = z::trace(model, z::random::key(0), x);
  check_paths(traced, {{"c3/weights", {2, 2, 3, 2, 3}}, {"c3/bias", {3}}}, DType::f32, "conv_3d");
  ParamTree params = randomize(traced, 25);
  z::ConvSpec spec{{1, 2, 2}, same_pads({4, 3, 5}, {2, 2, 3}, {1, 2, 2}), {}, {}, 1};
  Array y = z::jit(model)(params, x);
  CHECK(y.shape() == Shape{2, 4, 2, 3, 3});
  check_close(y, ref_conv_layer(x, params["c3"], spec), 1e-5, "conv_3d");
  Array x1 = random_array({4, 3, 5, 2}, 26);
  Ref r1 = ref_conv_layer(x1.reshape({1, 4, 3, 5, 2}), params["c3"], spec);
  check_close(z::jit(model)(params, x1), {{4, 2, 3, 3}, r1.values}, 1e-5, "conv_3d unbatched");
}

TEST_CASE("nets conv_transpose_1d and conv_transpose_2d follow jax.lax.conv_transpose (no kernel flip)") {
  // conv_transpose(x, w) = conv(x, w, lhs_dilation = stride, padding from _conv_transpose_padding).
  auto transpose_spec = [](const Shape& kernel, const Shape& stride, const Shape& rate, const std::string& padding) {
    z::ConvSpec spec;
    spec.lhs_dilation = stride;
    spec.rhs_dilation = rate;
    for (size_t i = 0; i < kernel.size(); ++i)
      spec.padding.push_back(conv_transpose_padding((kernel[i] - 1) * rate[i] + 1, stride[i], padding));
    return spec;
  };
  {
    Array x = random_array({2, 3, 4, 3}, 30);
    nets::ConvOptions o;
    o.stride = {2};
    auto model = [o](Params p, Tensor t) { return nets::conv_transpose_2d(p["up"], t, 2, {3, 3}, o); };
    ParamTree traced = z::trace(model, z::random::key(0), x);
    check_paths(traced, {{"up/weights", {3, 3, 3, 2}}, {"up/bias", {2}}}, DType::f32, "conv_transpose_2d");
    ParamTree params = randomize(traced, 31);
    Array y = z::jit(model)(params, x);
    CHECK(y.shape() == Shape{2, 6, 8, 2});  // SAME: input * stride
    check_close(y, ref_conv_layer(x, params["up"], transpose_spec({3, 3}, {2, 2}, {1, 1}, "SAME")), 1e-5,
                "conv_transpose_2d SAME stride 2");
  }
  {
    Array x = random_array({2, 3, 2, 2}, 32);
    nets::ConvOptions o;
    o.stride = {3, 2};
    o.padding = "VALID";
    auto model = [o](Params p, Tensor t) { return nets::conv_transpose_2d(p, t, 3, {4, 2}, o); };
    ParamTree params = randomize(z::trace(model, z::random::key(0), x), 33);
    Array y = z::jit(model)(params, x);
    CHECK(y.shape() == Shape{2, 10, 4, 3});  // VALID: n * s + max(k - s, 0)
    check_close(y, ref_conv_layer(x, params, transpose_spec({4, 2}, {3, 2}, {1, 1}, "VALID")), 1e-5,
                "conv_transpose_2d VALID strides (3, 2)");
  }
  {
    Array x = random_array({5, 2}, 34);  // unbatched
    nets::ConvOptions o;
    o.stride = {2};
    o.rate = {2};
    auto model = [o](Params p, Tensor t) { return nets::conv_transpose_1d(p, t, 3, {3}, o); };
    ParamTree params = randomize(z::trace(model, z::random::key(0), x), 35);
    check_paths(params, {{"weights", {3, 2, 3}}, {"bias", {3}}}, DType::f32, "conv_transpose_1d");
    Array y = z::jit(model)(params, x);
    Ref r = ref_conv_layer(x.reshape({1, 5, 2}), params, transpose_spec({3}, {2}, {2}, "SAME"));
    check_close(y, {{10, 3}, r.values}, 1e-5, "conv_transpose_1d unbatched, SAME, stride 2, rate 2");
  }
  {
    Array x = random_array({2, 4, 2}, 36);
    nets::ConvOptions o;
    o.stride = {2};
    o.padding = z::Padding{{1, 2}};
    auto model = [o](Params p, Tensor t) { return nets::conv_transpose_1d(p, t, 2, {3}, o); };
    ParamTree params = randomize(z::trace(model, z::random::key(0), x), 37);
    z::ConvSpec spec;
    spec.lhs_dilation = {2};
    spec.padding = {{1, 2}};
    check_close(z::jit(model)(params, x), ref_conv_layer(x, params, spec), 1e-5,
                "conv_transpose_1d explicit padding (1, 2), stride 2");
  }
  {
    // Independently of the padding rule: a stride-s VALID transpose scatters each input element
    // times the kernel into out[i * s + k]. Without transpose_kernel, jax.lax.conv_transpose is a
    // conv of the dilated input padded by k - 1, so the kernel lands reversed: w[k - 1 - m].
    Array x = random_array({1, 4, 1}, 38);
    nets::ConvOptions o;
    o.stride = {2};
    o.padding = "VALID";
    o.with_bias = false;
    auto model = [o](Params p, Tensor t) { return nets::conv_transpose_1d(p, t, 1, {3}, o); };
    ParamTree params = randomize(z::trace(model, z::random::key(0), x), 39);
    const Array& w = params.at("weights");
    std::vector<double> out(4 * 2 + 1, 0.0);
    for (int64_t i = 0; i < 4; ++i)
      for (int64_t k = 0; k < 3; ++k) out[i * 2 + k] += x.at(i) * w.at(2 - k);
    check_close(z::jit(model)(params, x), {{1, 9, 1}, out}, 1e-5, "conv_transpose_1d as a scatter");
  }
}

TEST_CASE("nets conv_2d gradient w.r.t. weights and bias matches finite differences (stride 2, groups 2)") {
  Array x = random_array({2, 5, 4, 4}, 40, DType::f64);
  nets::ConvOptions o;
  o.stride = {2};
  o.groups = 2;
  auto model = [o](Params p, Tensor t) { return nets::conv_2d(p["conv"], t, 4, {3, 2}, o); };
  ParamTree traced = z::trace(model, z::random::key(0), x);
  check_paths(traced, {{"conv/weights", {3, 2, 2, 4}}, {"conv/bias", {4}}}, DType::f64, "conv_2d f64");
  check_param_grads(model, randomize(traced, 41), x, "conv_2d gradient");

  nets::ConvOptions t;
  t.stride = {2};
  auto transposed = [t](Params p, Tensor v) { return nets::conv_transpose_2d(p, v, 2, {3, 2}, t); };
  Array xt = random_array({1, 3, 2, 2}, 42, DType::f64);
  check_param_grads(transposed, randomize(z::trace(transposed, z::random::key(0), xt), 43), xt,
                    "conv_transpose_2d gradient");
}

// =============================================================================================
// Pooling
// =============================================================================================

TEST_CASE("nets max_pool and avg_pool: VALID and SAME, strides, unbatched, 1-D, and avg SAME divides by the true count") {
  Array x = random_array({2, 7, 6, 3}, 50);
  struct Case {
    Shape window, stride;
    std::string padding;
  };
  for (const Case& c : std::vector<Case>{{{3, 3}, {2, 2}, "VALID"}, {{3, 3}, {2, 2}, "SAME"}, {{2, 3}, {1, 2}, "SAME"},
                                         {{2, 2}, {2, 2}, "VALID"}, {{3, 2}, {3, 1}, "SAME"}}) {
    std::string name = "window " + z::to_string(c.window) + " stride " + z::to_string(c.stride) + " " + c.padding;
    z::Padding pads = c.padding == "SAME" ? same_pads({7, 6}, c.window, c.stride) : z::Padding{};
    auto mx = z::jit([c](Tensor t) { return nets::max_pool(t, c.window, c.stride, c.padding.c_str()); });
    auto av = z::jit([c](Tensor t) { return nets::avg_pool(t, c.window, c.stride, c.padding.c_str()); });
    check_close(mx(x), ref_pool(x, c.window, c.stride, pads, true), 1e-6, "max_pool " + name);
    check_close(av(x), ref_pool(x, c.window, c.stride, pads, false), 1e-5, "avg_pool " + name);
  }
  // One stride for every axis, unbatched input.
  Array x1 = random_array({7, 6, 3}, 51);
  Ref r = ref_pool(x1.reshape({1, 7, 6, 3}), {3, 3}, {2, 2}, same_pads({7, 6}, {3, 3}, {2, 2}), false);
  check_close(z::jit([](Tensor t) { return nets::avg_pool(t, {3, 3}, {2}, "SAME"); })(x1), {{4, 3, 3}, r.values}, 1e-5,
              "avg_pool unbatched, one stride for all");
  Ref rm = ref_pool(x1.reshape({1, 7, 6, 3}), {2, 2}, {1, 1}, {}, true);
  check_close(z::jit([](Tensor t) { return nets::max_pool(t, {2, 2}); })(x1), {{6, 5, 3}, rm.values}, 1e-6,
              "max_pool unbatched, default stride 1 and VALID");
  // 1-D pooling over (batch, length, channels).
  Array s = random_array({2, 9, 3}, 52);
  check_close(z::jit([](Tensor t) { return nets::max_pool(t, {3}, {2}, "SAME"); })(s),
              ref_pool(s, {3}, {2}, same_pads({9}, {3}, {2}), true), 1e-6, "max_pool 1-D SAME");
  check_close(z::jit([](Tensor t) { return nets::avg_pool(t, {4}, {2}, "SAME"); })(s),
              ref_pool(s, {4}, {2}, same_pads({9}, {4}, {2}), false), 1e-5, "avg_pool 1-D SAME");
  // Explicit padding pairs.
  check_close(z::jit([](Tensor t) { return nets::avg_pool(t, {3}, {1}, z::Padding{{2, 1}}); })(s),
              ref_pool(s, {3}, {1}, {{2, 1}}, false), 1e-5, "avg_pool explicit padding");
}

TEST_CASE("nets max_pool and avg_pool gradients match finite differences") {
  // The pools have no parameters: differentiate a conv_1d's weights through them instead,
  // and the input directly through grad<1>.
  Array x = random_array({2, 7, 2}, 53, DType::f64);
  auto through_max = [](Params p, Tensor t) {
    return nets::max_pool(nets::conv_1d(p, t, 3, {2}), {3}, {2}, "SAME");
  };
  check_param_grads(through_max, randomize(z::trace(through_max, z::random::key(0), x), 54), x, "max_pool gradient");
  auto through_avg = [](Params p, Tensor t) {
    return nets::avg_pool(nets::conv_1d(p, t, 3, {2}), {3}, {2}, "SAME");
  };
  check_param_grads(through_avg, randomize(z::trace(through_avg, z::random::key(0), x), 55), x, "avg_pool gradient");

  Array x2 = random_array({1, 5, 4, 2}, 56, DType::f64);
  Array w = random_array({1, 5, 2, 2}, 57, DType::f64);  // the SAME output: (1, 5, ceil(4 / 2), 2)
  for (bool is_max : {true, false}) {
    auto loss = [is_max, w](Tensor t) {
      Tensor y = is_max ? nets::max_pool(t, {2, 2}, {1, 2}, "SAME") : nets::avg_pool(t, {2, 2}, {1, 2}, "SAME");
      return z::sum(y * z::constant(w));
    };
    Array g = z::grad(loss)(x2);
    auto value = z::jit(loss);
    int bad = 0;
    for (int64_t i = 0; i < x2.size(); ++i) {
      Array plus = x2.clone(), minus = x2.clone();
      plus.data<double>()[i] += 1e-6;
      minus.data<double>()[i] -= 1e-6;
      double numeric = (value(plus).item<double>() - value(minus).item<double>()) / 2e-6;
      if (std::abs(g.at(i) - numeric) > 1e-6 && bad++ < 5)
        CHECK_MESSAGE(false, (is_max ? "max_pool" : "avg_pool") << " input gradient [" << i << "] analytic "
                                                                 << g.at(i) << ", numeric " << numeric);
    }
    CHECK(bad == 0);
  }
}

// =============================================================================================
// Normalization
// =============================================================================================

TEST_CASE("nets layer_norm: axis -1 and axis 1, scale and offset shapes, without scale or offset") {
  Array x = random_array({2, 3, 4}, 60, DType::f32, -2, 2);
  {
    auto model = [](Params p, Tensor t) { return nets::layer_norm(p["ln"], t); };
    ParamTree traced = z::trace(model, z::random::key(0), x);
    check_paths(traced, {{"ln/scale", {4}}, {"ln/offset", {4}}}, DType::f32, "layer_norm axis -1");
    if (traced.contains("ln/scale")) {
      CHECK(traced.at("ln/scale").to_vector<float>() == std::vector<float>(4, 1.0f));
      CHECK(traced.at("ln/offset").to_vector<float>() == std::vector<float>(4, 0.0f));
    }
    ParamTree params = randomize(traced, 61);
    Array scale = params.at("ln/scale"), offset = params.at("ln/offset");
    check_close(z::jit(model)(params, x), {x.shape(), ref_layer_norm(values_of(x), x.shape(), -1, &scale, &offset)},
                1e-5, "layer_norm axis -1");
  }
  {
    auto model = [](Params p, Tensor t) { return nets::layer_norm(p, t, 1); };
    ParamTree traced = z::trace(model, z::random::key(0), x);
    check_paths(traced, {{"scale", {3, 1}}, {"offset", {3, 1}}}, DType::f32, "layer_norm axis 1");
    ParamTree params = randomize(traced, 62);
    Array scale = params.at("scale"), offset = params.at("offset");
    check_close(z::jit(model)(params, x), {x.shape(), ref_layer_norm(values_of(x), x.shape(), 1, &scale, &offset)},
                1e-5, "layer_norm axis 1");
  }
  {
    nets::NormOptions o;
    o.create_scale = false;
    o.eps = 0.5;
    auto model = [o](Params p, Tensor t) { return nets::layer_norm(p, t, -1, o); };
    ParamTree traced = z::trace(model, z::random::key(0), x);
    check_paths(traced, {{"offset", {4}}}, DType::f32, "layer_norm without scale");
    ParamTree params = randomize(traced, 63);
    Array offset = params.at("offset");
    check_close(z::jit(model)(params, x), {x.shape(), ref_layer_norm(values_of(x), x.shape(), -1, nullptr, &offset, 0.5)},
                1e-5, "layer_norm without scale, eps 0.5");
    nets::NormOptions none;
    none.create_scale = none.create_offset = false;
    auto bare = [none](Params p, Tensor t) { return nets::layer_norm(p, t, -1, none); };
    CHECK(z::trace(bare, z::random::key(0), x).size() == 0);
    check_close(z::jit(bare)(ParamTree(), x), {x.shape(), ref_layer_norm(values_of(x), x.shape(), -1, nullptr, nullptr)},
                1e-5, "layer_norm without parameters");
  }
}

TEST_CASE("nets layer_norm gradient matches finite differences, axis -1 and axis 0") {
  Array x = random_array({3, 4}, 64, DType::f64, -2, 2);
  auto last = [](Params p, Tensor t) { return nets::layer_norm(p["ln"], t); };
  check_param_grads(last, randomize(z::trace(last, z::random::key(0), x), 65), x, "layer_norm axis -1 gradient");
  auto first = [](Params p, Tensor t) { return nets::layer_norm(p["ln"], t, 0); };
  check_param_grads(first, randomize(z::trace(first, z::random::key(0), x), 66), x, "layer_norm axis 0 gradient");
}

TEST_CASE("nets layer_norm: its written-out input gradient matches finite differences, with and without scale") {
  // The input reaches the norm through a parameter "gain" (x · gain), so the gradient w.r.t. gain
  // is dx · x: every element of the rule's dx is checked (lib/nets/norm.cpp).
  Array x = random_array({2, 3, 4}, 68, DType::f64, -2, 2);
  auto through = [](nets::NormOptions o, int64_t axis) {
    return [o, axis](Params p, Tensor t) {
      p["gain"] == z::array(t.shape(), z::init::ones, DType::f64);
      return nets::layer_norm(p["ln"], t * p["gain"], axis, o);
    };
  };
  nets::NormOptions bare;
  bare.create_scale = bare.create_offset = false;
  nets::NormOptions scale_only;
  scale_only.create_offset = false;
  int seed = 80;
  for (auto [o, axis, what] : {std::tuple{nets::NormOptions{}, int64_t{-1}, "scale and offset, axis -1"},
                               std::tuple{nets::NormOptions{}, int64_t{1}, "scale and offset, axis 1"},
                               std::tuple{scale_only, int64_t{-1}, "scale only"}, std::tuple{bare, int64_t{2}, "bare"}}) {
    auto model = through(o, axis);
    check_param_grads(model, randomize(z::trace(model, z::random::key(0), x), seed++), x, what);
  }
}

TEST_CASE("nets rms_norm: scale of shape (features), forward and gradient") {
  Array x = random_array({2, 3, 5}, 67, DType::f32, -2, 2);
  auto model = [](Params p, Tensor t) { return nets::rms_norm(p["rms"], t); };
  ParamTree traced = z::trace(model, z::random::key(0), x);
  check_paths(traced, {{"rms/scale", {5}}}, DType::f32, "rms_norm");
  ParamTree params = randomize(traced, 68);
  const Array& scale = params.at("rms/scale");
  std::vector<double> want(x.size());
  for (int64_t r = 0; r < 6; ++r) {
    double ms = 0;
    for (int64_t j = 0; j < 5; ++j) ms += x.at(r * 5 + j) * x.at(r * 5 + j);
    ms /= 5;
    for (int64_t j = 0; j < 5; ++j) want[r * 5 + j] = x.at(r * 5 + j) / std::sqrt(ms + 1e-5) * scale.at(j);
  }
  check_close(z::jit(model)(params, x), {x.shape(), want}, 1e-5, "rms_norm forward");
  Array x64 = random_array({3, 4}, 69, DType::f64, -2, 2);
  check_param_grads(model, randomize(z::trace(model, z::random::key(0), x64), 70), x64, "rms_norm gradient");
}

TEST_CASE("nets batch_norm: training uses batch statistics and updates the running ones, eval uses the running ones") {
  Array x = random_array({4, 3, 2}, 71, DType::f32, -2, 2);
  const double momentum = 0.8;
  auto model = [momentum](Params p, Tensor t, bool training) {
    nets::BatchNorm bn = nets::batch_norm(p["bn"], t, training, momentum);
    return std::tuple{bn.y, bn.running_mean, bn.running_var};
  };
  ParamTree traced = z::trace(model, z::random::key(0), x, true);
  check_paths(traced, {{"bn/scale", {2}}, {"bn/offset", {2}}, {"bn/running_mean", {2}}, {"bn/running_var", {2}}},
              DType::f32, "batch_norm");
  if (traced.contains("bn/running_var")) {
    CHECK(traced.at("bn/running_mean").to_vector<float>() == std::vector<float>(2, 0.0f));
    CHECK(traced.at("bn/running_var").to_vector<float>() == std::vector<float>(2, 1.0f));
  }
  ParamTree params = randomize(traced, 72, {"running_var"});
  ParamTree p = params["bn"];
  auto run = z::jit(model);

  // Training: statistics over every axis but the last (population variance).
  auto [y, rm, rv] = run(params, x, true);
  int64_t rows = 12, c = 2;
  std::vector<double> mean(c, 0), var(c, 0), want(x.size());
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < c; ++j) mean[j] += x.at(i * c + j) / rows;
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < c; ++j) var[j] += (x.at(i * c + j) - mean[j]) * (x.at(i * c + j) - mean[j]) / rows;
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < c; ++j)
      want[i * c + j] = (x.at(i * c + j) - mean[j]) / std::sqrt(var[j] + 1e-5) * p.at("scale").at(j) + p.at("offset").at(j);
  check_close(y, {x.shape(), want}, 1e-5, "batch_norm training output");
  std::vector<double> want_rm(c), want_rv(c);
  for (int64_t j = 0; j < c; ++j) {
    want_rm[j] = momentum * p.at("running_mean").at(j) + (1 - momentum) * mean[j];
    want_rv[j] = momentum * p.at("running_var").at(j) + (1 - momentum) * var[j];
  }
  check_close(rm, {{2}, want_rm}, 1e-5, "batch_norm new running mean = m * old + (1 - m) * batch mean");
  check_close(rv, {{2}, want_rv}, 1e-5, "batch_norm new running var = m * old + (1 - m) * batch var (population)");

  // Eval: the running statistics normalize, and come back unchanged.
  auto [ye, rme, rve] = run(params, x, false);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < c; ++j)
      want[i * c + j] = (x.at(i * c + j) - p.at("running_mean").at(j)) / std::sqrt(p.at("running_var").at(j) + 1e-5) *
                            p.at("scale").at(j) +
                        p.at("offset").at(j);
  check_close(ye, {x.shape(), want}, 1e-5, "batch_norm eval output");
  check_close(rme, {{2}, values_of(p.at("running_mean"))}, 0, "batch_norm eval keeps the running mean");
  check_close(rve, {{2}, values_of(p.at("running_var"))}, 0, "batch_norm eval keeps the running var");

  // Gradient: scale and offset by finite differences; the running statistics get none.
  Array x64 = random_array({5, 3}, 73, DType::f64, -2, 2);
  auto train_y = [](Params p, Tensor t) { return nets::batch_norm(p, t, true).y; };
  check_param_grads(train_y, randomize(z::trace(train_y, z::random::key(0), x64), 74, {"running_var"}), x64,
                    "batch_norm training gradient", {"running_"});
}

// =============================================================================================
// Attention
// =============================================================================================

TEST_CASE("nets single_head_attention: projections, 1/sqrt(d) scaling, float and bool masks") {
  Array q = random_array({2, 3, 4}, 80), k = random_array({2, 5, 4}, 81), v = random_array({2, 5, 6}, 82);
  auto model = [](Params p, Tensor q, Tensor k, Tensor v) { return nets::single_head_attention(p["sha"], q, k, v); };
  ParamTree traced = z::trace(model, z::random::key(0), q, k, v);
  check_paths(traced,
              {{"sha/linear_queries/weights", {4, 4}}, {"sha/linear_queries/bias", {4}},
               {"sha/linear_keys/weights", {4, 4}}, {"sha/linear_keys/bias", {4}},
               {"sha/linear_values/weights", {6, 6}}, {"sha/linear_values/bias", {6}}},
              DType::f32, "single_head_attention");
  ParamTree params = randomize(traced, 83);
  ParamTree p = params["sha"];

  auto reference = [&](const std::function<bool(int64_t, int64_t, int64_t)>& keep) {
    std::vector<double> Q = affine(values_of(q), 6, p, "linear_queries"), K = affine(values_of(k), 10, p, "linear_keys"),
                        V = affine(values_of(v), 10, p, "linear_values");
    std::vector<double> out(2 * 3 * 6);
    for (int64_t b = 0; b < 2; ++b)
      attend(&Q[b * 12], &K[b * 20], &V[b * 30], 3, 5, 4, 6, 4, 4, 6, 0.5,
             [&](int64_t i, int64_t j) { return keep(b, i, j); }, &out[b * 18], 6);
    return Ref{{2, 3, 6}, out};
  };
  check_close(z::jit(model)(params, q, k, v), reference([](int64_t, int64_t, int64_t) { return true; }), 1e-5,
              "single_head_attention, no mask");

  // A (3, 5) float mask of 0/1, broadcast over the batch; every row keeps key 0.
  Array fmask(Shape{3, 5}, DType::f32);
  for (int64_t i = 0; i < 15; ++i) fmask.data<float>()[i] = (i % 5 == 0 || (i * 7) % 3 == 0) ? 1.0f : 0.0f;
  auto masked = [](Params p, Tensor q, Tensor k, Tensor v, Tensor m) {
    return nets::single_head_attention(p["sha"], q, k, v, m);
  };
  check_close(z::jit(masked)(params, q, k, v, fmask),
              reference([&](int64_t, int64_t i, int64_t j) { return fmask.at(i * 5 + j) == 1.0; }), 1e-5,
              "single_head_attention, float mask");
  // A (2, 1, 5) bool mask: per batch, per key.
  Array bmask = bool_array({2, 1, 5}, [](const Shape& i) { return i[2] == 0 || (i[0] + i[2]) % 2 == 1; });
  check_close(z::jit(masked)(params, q, k, v, bmask),
              reference([&](int64_t b, int64_t, int64_t j) { return bmask.data<bool>()[b * 5 + j]; }), 1e-5,
              "single_head_attention, bool mask");

  auto no_bias = [](Params p, Tensor q, Tensor k, Tensor v) { return nets::single_head_attention(p, q, k, v, {}, false); };
  check_paths(z::trace(no_bias, z::random::key(0), q, k, v),
              {{"linear_queries/weights", {4, 4}}, {"linear_keys/weights", {4, 4}}, {"linear_values/weights", {6, 6}}},
              DType::f32, "single_head_attention without bias");
}

TEST_CASE("nets multi_head_attention: paths, heads, bool mask, is_causal, mask and causal together") {
  int64_t B = 2, T = 3, S = 4, M = 8, H = 2;
  Array q = random_array({B, T, M}, 90), k = random_array({B, S, M}, 91), v = random_array({B, S, M}, 92);
  auto model = [H](Params p, Tensor q, Tensor k, Tensor v) { return nets::multi_head_attention(p["mha"], q, k, v, H); };
  ParamTree traced = z::trace(model, z::random::key(0), q, k, v);
  std::vector<std::pair<std::string, Shape>> expected;
  for (std::string proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
    expected.push_back({"mha/" + proj + "/weights", {M, M}});
    expected.push_back({"mha/" + proj + "/bias", {M}});
  }
  check_paths(traced, expected, DType::f32, "multi_head_attention");
  ParamTree params = randomize(traced, 93);
  ParamTree p = params["mha"];
  check_close(z::jit(model)(params, q, k, v),
              {{B, T, M}, ref_mha(p, values_of(q), values_of(k), values_of(v), B, T, S, M, H, keep_all())}, 1e-5,
              "multi_head_attention, no mask");

  // A (B, H, T, S) bool mask, different per head; key 0 always kept.
  Array mask = bool_array({B, H, T, S}, [](const Shape& i) { return i[3] == 0 || (i[0] + 2 * i[1] + i[2] + i[3]) % 3 != 0; });
  auto masked = [H](Params p, Tensor q, Tensor k, Tensor v, Tensor m) {
    nets::AttentionOptions o;
    o.mask = m;
    return nets::multi_head_attention(p["mha"], q, k, v, H, o);
  };
  MaskFn keep_mask = [&](int64_t b, int64_t h, int64_t i, int64_t j) {
    return mask.data<bool>()[ravel({b, h, i, j}, {B, H, T, S})];
  };
  check_close(z::jit(masked)(params, q, k, v, mask),
              {{B, T, M}, ref_mha(p, values_of(q), values_of(k), values_of(v), B, T, S, M, H, keep_mask)}, 1e-5,
              "multi_head_attention, per-head bool mask");

  // Causal self-attention shapes (t == s), alone and with a (T, S) float mask.
  Array x = random_array({B, S, M}, 94);
  auto causal = [H](Params p, Tensor q, Tensor k, Tensor v) {
    nets::AttentionOptions o;
    o.is_causal = true;
    return nets::multi_head_attention(p["mha"], q, k, v, H, o);
  };
  MaskFn keep_causal = [](int64_t, int64_t, int64_t i, int64_t j) { return j <= i; };
  check_close(z::jit(causal)(params, x, k, v),
              {{B, S, M}, ref_mha(p, values_of(x), values_of(k), values_of(v), B, S, S, M, H, keep_causal)}, 1e-5,
              "multi_head_attention, is_causal");
  Array fmask(Shape{S, S}, DType::f32);
  for (int64_t i = 0; i < S * S; ++i) fmask.data<float>()[i] = (i % S == 0 || i % 2 == 1) ? 1.0f : 0.0f;
  auto both = [H](Params p, Tensor q, Tensor k, Tensor v, Tensor m) {
    nets::AttentionOptions o;
    o.mask = m;
    o.is_causal = true;
    return nets::multi_head_attention(p["mha"], q, k, v, H, o);
  };
  MaskFn keep_both = [&](int64_t, int64_t, int64_t i, int64_t j) { return j <= i && fmask.at(i * S + j) == 1.0; };
  check_close(z::jit(both)(params, x, k, v, fmask),
              {{B, S, M}, ref_mha(p, values_of(x), values_of(k), values_of(v), B, S, S, M, H, keep_both)}, 1e-5,
              "multi_head_attention, is_causal and a float mask");

  auto no_bias = [H](Params p, Tensor q, Tensor k, Tensor v) {
    nets::AttentionOptions o;
    o.with_bias = false;
    return nets::multi_head_attention(p, q, k, v, H, o);
  };
  ParamTree nb = randomize(z::trace(no_bias, z::random::key(0), q, k, v), 95);
  check_paths(nb, {{"q_proj/weights", {M, M}}, {"k_proj/weights", {M, M}}, {"v_proj/weights", {M, M}},
                   {"out_proj/weights", {M, M}}},
              DType::f32, "multi_head_attention without bias");
  check_close(z::jit(no_bias)(nb, q, k, v),
              {{B, T, M}, ref_mha(nb, values_of(q), values_of(k), values_of(v), B, T, S, M, H, keep_all(), false)}, 1e-5,
              "multi_head_attention without bias");
}

TEST_CASE("nets multi_head_self_attention equals multi_head_attention(x, x, x), causal too") {
  int64_t B = 2, T = 4, M = 8, H = 4;
  Array x = random_array({B, T, M}, 100);
  auto model = [H](Params p, Tensor t) {
    nets::AttentionOptions o;
    o.is_causal = true;
    return nets::multi_head_self_attention(p["self"], t, H, o);
  };
  ParamTree traced = z::trace(model, z::random::key(0), x);
  std::vector<std::pair<std::string, Shape>> expected;
  for (std::string proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
    expected.push_back({"self/" + proj + "/weights", {M, M}});
    expected.push_back({"self/" + proj + "/bias", {M}});
  }
  check_paths(traced, expected, DType::f32, "multi_head_self_attention");
  ParamTree params = randomize(traced, 101);
  std::vector<double> xv = values_of(x);
  check_close(z::jit(model)(params, x),
              {{B, T, M}, ref_mha(params["self"], xv, xv, xv, B, T, T, M, H,
                                  [](int64_t, int64_t, int64_t i, int64_t j) { return j <= i; })},
              1e-5, "multi_head_self_attention causal");
}

TEST_CASE("nets multi_head_attention gradient w.r.t. every projection matches finite differences") {
  int64_t M = 4, H = 2;
  Array q = random_array({1, 3, M}, 102, DType::f64);
  Array kv = random_array({1, 4, M}, 103, DType::f64);
  Array mask = bool_array({3, 4}, [](const Shape& i) { return i[1] <= i[0] + 1; });
  auto model = [H, kv, mask](Params p, Tensor t) {
    nets::AttentionOptions o;
    o.mask = z::constant(mask);
    Tensor k = z::constant(kv);
    return nets::multi_head_attention(p["mha"], t, k, k * 0.5, H, o);
  };
  ParamTree traced = z::trace(model, z::random::key(0), q);
  CHECK(traced.at("mha/q_proj/weights").dtype() == DType::f64);
  check_param_grads(model, randomize(traced, 104), q, "multi_head_attention gradient");
}

TEST_CASE("nets multi_head_linear_attention: elu + 1 feature map per head, no parameters") {
  int64_t B = 2, T = 3, S = 5, M = 6, H = 2, hd = M / H;
  Array q = random_array({B, T, M}, 110), k = random_array({B, S, M}, 111), v = random_array({B, S, M}, 112);
  auto model = [H](Params, Tensor q, Tensor k, Tensor v) { return nets::multi_head_linear_attention(q, k, v, H); };
  CHECK(z::trace(model, z::random::key(0), q, k, v).size() == 0);
  auto phi = [](double x) { return x > 0 ? x + 1 : std::exp(x); };
  std::vector<double> want(B * T * M);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < T; ++i) {
        std::vector<double> w(S);
        double total = 0;
        for (int64_t j = 0; j < S; ++j) {
          double dot = 0;
          for (int64_t c = 0; c < hd; ++c)
            dot += phi(q.at((b * T + i) * M + h * hd + c)) * phi(k.at((b * S + j) * M + h * hd + c));
          w[j] = dot;
          total += dot;
        }
        for (int64_t c = 0; c < hd; ++c) {
          double acc = 0;
          for (int64_t j = 0; j < S; ++j) acc += w[j] * v.at((b * S + j) * M + h * hd + c);
          want[(b * T + i) * M + h * hd + c] = acc / total;
        }
      }
  check_close(z::jit(model)(ParamTree(), q, k, v), {{B, T, M}, want}, 1e-4, "multi_head_linear_attention");
}

TEST_CASE("nets transformer_block: pre-norm attention and GELU MLP with residuals") {
  int64_t B = 2, T = 4, M = 8, H = 2, F = 12;
  Array x = random_array({B, T, M}, 120);
  auto model = [H, F](Params p, Tensor t) {
    nets::AttentionOptions o;
    o.is_causal = true;
    return nets::transformer_block(p["block"], t, H, F, o);
  };
  ParamTree traced = z::trace(model, z::random::key(0), x);
  std::vector<std::pair<std::string, Shape>> expected = {
      {"block/layer_norm_1/scale", {M}}, {"block/layer_norm_1/offset", {M}},
      {"block/layer_norm_2/scale", {M}}, {"block/layer_norm_2/offset", {M}},
      {"block/mlp/0/weights", {M, F}},         {"block/mlp/0/bias", {F}},
      {"block/mlp/1/weights", {F, M}},         {"block/mlp/1/bias", {M}}};
  for (std::string proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
    expected.push_back({"block/attention/" + proj + "/weights", {M, M}});
    expected.push_back({"block/attention/" + proj + "/bias", {M}});
  }
  check_paths(traced, expected, DType::f32, "transformer_block");
  ParamTree params = randomize(traced, 121);
  ParamTree p = params["block"];
  Array s1 = p.at("layer_norm_1/scale"), o1 = p.at("layer_norm_1/offset");
  Array s2 = p.at("layer_norm_2/scale"), o2 = p.at("layer_norm_2/offset");
  std::vector<double> xv = values_of(x);
  std::vector<double> n1 = ref_layer_norm(xv, {B, T, M}, -1, &s1, &o1);
  std::vector<double> att =
      ref_mha(p["attention"], n1, n1, n1, B, T, T, M, H, [](int64_t, int64_t, int64_t i, int64_t j) { return j <= i; });
  std::vector<double> h(xv.size());
  for (size_t i = 0; i < h.size(); ++i) h[i] = xv[i] + att[i];
  std::vector<double> n2 = ref_layer_norm(h, {B, T, M}, -1, &s2, &o2);
  std::vector<double> hidden = affine(n2, B * T, p, "mlp/0");
  for (double& e : hidden) e = gelu(e);
  std::vector<double> out = affine(hidden, B * T, p, "mlp/1");
  for (size_t i = 0; i < out.size(); ++i) out[i] += h[i];
  check_close(z::jit(model)(params, x), {{B, T, M}, out}, 1e-4, "transformer_block");
}

TEST_CASE("nets linear_transformer_block: parameter paths and output shape") {
  int64_t B = 2, T = 3, S = 4, D = 6, E = 8, H = 2, F = 10;
  Array q = random_array({B, T, D}, 125), k = random_array({B, S, D}, 126), v = random_array({B, S, 5}, 127);
  auto model = [H, E, F](Params p, Tensor q, Tensor k, Tensor v) {
    return nets::linear_transformer_block(p["lt"], q, k, v, H, E, F);
  };
  ParamTree traced = z::trace(model, z::random::key(0), q, k, v);
  std::vector<std::string> prefixes = {"lt/linear/queries/", "lt/linear/keys/", "lt/linear/values/",
                                       "lt/layer_norm/0/",   "lt/layer_norm/1/", "lt/mlp/0/", "lt/mlp/1/"};
  for (const std::string& prefix : prefixes) {
    bool found = false;
    for (const auto& [path, a] : traced) found = found || path.rfind(prefix, 0) == 0;
    CHECK_MESSAGE(found, "no leaf under " << prefix << " in\n" << traced.str());
  }
  if (traced.contains("lt/linear/queries/weights")) {
    CHECK(traced.at("lt/linear/queries/weights").shape() == Shape{D, E});
    CHECK(traced.at("lt/linear/values/weights").shape() == Shape{5, E});
    CHECK(traced.at("lt/mlp/0/weights").shape() == Shape{E, F});
    CHECK(traced.at("lt/mlp/1/weights").shape() == Shape{F, E});
  }
  Array y = z::jit(model)(randomize(traced, 128), q, k, v);
  CHECK(y.shape() == Shape{B, T, E});
  for (int64_t i = 0; i < y.size(); ++i) REQUIRE(std::isfinite(y.at(i)));
}

// =============================================================================================
// Embeddings and dropout
// =============================================================================================

TEST_CASE("nets token_embed: rows by id, gradient is a scatter-add of the cotangent (repeated ids)") {
  Array ids = Array::from<int32_t>({2, 3}, std::vector<int32_t>{4, 0, 4, 6, 1, 4});
  auto model = [](Params p, Tensor i) { return nets::token_embed(p["embed"], i, 7, 3); };
  ParamTree traced = z::trace(model, z::random::key(0), ids);
  check_paths(traced, {{"embed/token_embeddings", {7, 3}}}, DType::f32, "token_embed");
  ParamTree params = randomize(traced, 130);
  const Array& table = params.at("embed/token_embeddings");
  std::vector<double> want;
  for (int64_t i = 0; i < ids.size(); ++i)
    for (int64_t c = 0; c < 3; ++c) want.push_back(table.at(static_cast<int64_t>(ids.at(i)) * 3 + c));
  check_close(z::jit(model)(params, ids), {{2, 3, 3}, want}, 0, "token_embed forward");

  // d/dtable sum(embed(ids) * W) = scatter-add of W's rows into the ids' rows (exact), and
  // finite differences agree (the loss is linear in the table, so f32 steps are exact enough).
  Array weights = random_array({2, 3, 3}, 131, DType::f64);
  auto loss = [weights](Params p, Tensor i) {
    return z::sum(z::cast(nets::token_embed(p["embed"], i, 7, 3), DType::f64) * z::constant(weights));
  };
  ParamTree grads = z::grad(loss)(params, ids);
  REQUIRE(grads.size() == 1);
  const Array& g = grads.at("embed/token_embeddings");
  std::vector<double> scatter(21, 0.0);
  for (int64_t i = 0; i < ids.size(); ++i)
    for (int64_t c = 0; c < 3; ++c) scatter[static_cast<int64_t>(ids.at(i)) * 3 + c] += weights.at(i * 3 + c);
  check_close(g, {{7, 3}, scatter}, 1e-6, "token_embed gradient = scatter-add");
  auto value = z::jit(loss);
  const float h = 0.25f;
  int bad = 0;
  for (int64_t i = 0; i < 21; ++i) {
    ParamTree plus = clone(params), minus = clone(params);
    Array pl = plus.at("embed/token_embeddings"), mi = minus.at("embed/token_embeddings");
    pl.data<float>()[i] += h;
    mi.data<float>()[i] -= h;
    double numeric = (value(plus, ids).item<double>() - value(minus, ids).item<double>()) / (2 * h);
    if (std::abs(numeric - g.at(i)) > 1e-5 && bad++ < 5)
      CHECK_MESSAGE(false, "token_embed [" << i << "] analytic " << g.at(i) << ", numeric " << numeric);
  }
  CHECK(bad == 0);
}

TEST_CASE("nets dropout: keeps about 1 - rate, scales kept values, eval is the identity, the key decides the mask") {
  const double rate = 0.25;
  Array x = Array::ones({100, 100});
  auto drop = z::jit([rate](Tensor key, Tensor t) { return nets::dropout(key, t, rate); });
  Array key = z::random::key_array(z::random::key(3));
  Array y = drop(key, x);
  REQUIRE(y.shape() == x.shape());
  int64_t kept = 0, other = 0;
  for (int64_t i = 0; i < y.size(); ++i) {
    double v = y.at(i);
    if (v == 0.0) continue;
    if (std::abs(v - 1.0 / (1.0 - rate)) < 1e-6) ++kept;
    else ++other;
  }
  CHECK(other == 0);
  double fraction = static_cast<double>(kept) / y.size();
  CHECK(fraction > 1 - rate - 0.02);
  CHECK(fraction < 1 - rate + 0.02);

  // Kept values of a random input are scaled by 1 / (1 - rate).
  Array r = random_array({50, 20}, 140, DType::f32, 0.5, 1.5);
  Array yr = drop(key, r);
  for (int64_t i = 0; i < r.size(); ++i)
    if (yr.at(i) != 0.0) CHECK(yr.at(i) == doctest::Approx(r.at(i) / (1 - rate)).epsilon(1e-6));

  CHECK(drop(key, x).bitwise_equal(y));  // same key, same mask
  Array other_key = z::random::key_array(z::random::key(4));
  CHECK_FALSE(drop(other_key, x).bitwise_equal(y));

  auto eval = z::jit([rate](Tensor key, Tensor t) { return nets::dropout(key, t, rate, false); });
  CHECK(eval(key, r).bitwise_equal(r));

  // f64 input keeps its dtype.
  Array r64 = random_array({10, 10}, 141, DType::f64);
  Array y64 = drop(key, r64);
  CHECK(y64.dtype() == DType::f64);
}

// =============================================================================================
// Composition: chain, skip, thread_params, thread_key, holes, flexible, ZEPHYR_VALIDATE
// =============================================================================================

TEST_CASE("nets chain, skip and thread_params compose layers in order with sub-tree i per layer") {
  Array x = random_array({3, 4}, 150);
  auto model = [](Params p, Tensor t) {
    std::vector<z::ParamLayer> layers = {
        [](Params q, const Tensor& v) { return nets::linear(q, v, 5); },
        [](Params q, const Tensor& v) { return z::relu(nets::linear(q, v, 5)); },
        [](Params q, const Tensor& v) { return nets::linear(q, v, 2); },
    };
    z::Layer stack = z::chain(z::thread_params(layers, p["stack"]));
    z::Layer residual = z::skip([p](const Tensor& v) { return nets::linear(p["res"], v, 4); });
    return stack(residual(t));
  };
  ParamTree traced = z::trace(model, z::random::key(0), x);
  check_paths(traced,
              {{"res/weights", {4, 4}}, {"res/bias", {4}}, {"stack/0/weights", {4, 5}}, {"stack/0/bias", {5}},
               {"stack/1/weights", {5, 5}}, {"stack/1/bias", {5}}, {"stack/2/weights", {5, 2}}, {"stack/2/bias", {2}}},
              DType::f32, "chain / thread_params / skip");
  ParamTree params = randomize(traced, 151);
  std::vector<double> xv = values_of(x);
  std::vector<double> res = affine(xv, 3, params, "res");
  for (size_t i = 0; i < res.size(); ++i) res[i] += xv[i];
  std::vector<double> h = affine(res, 3, params, "stack/0");
  h = affine(h, 3, params, "stack/1");
  for (double& e : h) e = std::max(e, 0.0);
  h = affine(h, 3, params, "stack/2");
  check_close(z::jit(model)(params, x), {{3, 2}, h}, 1e-5, "chain(thread_params(...))(skip(...)(x))");

  // chain of plain callables (variadic form): applied first to last.
  auto plain = [](Tensor t) { return z::chain([](const Tensor& v) { return v * 2.0; }, [](const Tensor& v) { return v + 1.0; })(t); };
  Array y = z::jit(plain)(x);
  std::vector<double> want;
  for (double e : xv) want.push_back(e * 2 + 1);
  check_close(y, {{3, 4}, want}, 1e-6, "chain(f, g)(x) = g(f(x))");
}

TEST_CASE("nets thread_key gives each layer its own key from random::split") {
  Array x = Array::ones({20, 20});
  Array key = z::random::key_array(z::random::key(9));
  auto threaded = z::jit([](Tensor k, Tensor t) {
    std::vector<z::KeyLayer> layers = {
        [](const Tensor& kk, const Tensor& v) { return nets::dropout(kk, v, 0.5); },
        [](const Tensor& kk, const Tensor& v) { return nets::dropout(kk, v, 0.3); },
    };
    return z::chain(z::thread_key(layers, k))(t);
  });
  auto by_hand = z::jit([](Tensor k, Tensor t) {
    std::vector<Tensor> keys = z::random::split(k, 2);
    return nets::dropout(keys[1], nets::dropout(keys[0], t, 0.5), 0.3);
  });
  Array a = threaded(key, x), b = by_hand(key, x);
  CHECK(a.bitwise_equal(b));
  // The two layers got different keys: their masks are not the same.
  auto first_only = z::jit([](Tensor k, Tensor t) { return nets::dropout(z::random::split(k, 2)[0], t, 0.5); });
  auto second_only = z::jit([](Tensor k, Tensor t) { return nets::dropout(z::random::split(k, 2)[1], t, 0.5); });
  Array m0 = first_only(key, x), m1 = second_only(key, x);
  CHECK_FALSE(m0.bitwise_equal(m1));
}

namespace {
// compose.h documents `inline constexpr auto f = z::flexible(...)`, but flexible() is not
// constexpr, so that spelling does not compile (clang 19 and gcc): plain `const` here.
const auto dense_block = z::flexible([](Params p, Tensor x, int64_t out) {
  return z::relu(nets::linear(p, x, out));
});
const auto mix = z::flexible([](Tensor a, Tensor b, double w) { return a * w + b; });
}  // namespace

TEST_CASE("nets the z::_ hole and z::flexible: partial application in any position") {
  Array x = random_array({3, 4}, 160), y = random_array({3, 4}, 161);
  auto model = [](Params p, Tensor t) {
    z::Layer layer = dense_block(p["block"], z::_, int64_t{6});
    return layer(t);
  };
  ParamTree params = randomize(z::trace(model, z::random::key(0), x), 162);
  check_paths(params, {{"block/weights", {4, 6}}, {"block/bias", {6}}}, DType::f32, "hole");
  auto direct = [](Params p, Tensor t) { return dense_block(p["block"], t, int64_t{6}); };
  CHECK(z::jit(model)(params, x).bitwise_equal(z::jit(direct)(params, x)));

  auto holes = z::jit([](Tensor a, Tensor b) {
    auto both = mix(z::_, z::_, 3.0);   // two holes, filled in order
    auto second = mix(z::_, b, 3.0);    // the second argument bound
    auto first = mix(a, z::_, 3.0);     // the first argument bound
    return std::vector<Tensor>{both(a, b), second(a), first(b), both(b, a)};
  });
  std::vector<Array> out = holes(x, y);
  REQUIRE(out.size() == 4);
  std::vector<double> ab, ba;
  for (int64_t i = 0; i < x.size(); ++i) {
    ab.push_back(x.at(i) * 3 + y.at(i));
    ba.push_back(y.at(i) * 3 + x.at(i));
  }
  check_close(out[0], {{3, 4}, ab}, 1e-6, "mix(_, _)(a, b)");
  check_close(out[1], {{3, 4}, ab}, 1e-6, "mix(_, b)(a)");
  check_close(out[2], {{3, 4}, ab}, 1e-6, "mix(a, _)(b)");
  check_close(out[3], {{3, 4}, ba}, 1e-6, "mix(_, _)(b, a)");
}

TEST_CASE("nets ZEPHYR_VALIDATE names the path and quotes the expression at the caller") {
  int line = 0;
  auto model = [&line](Params p, Tensor x) {
    line = __LINE__ + 1;
    ZEPHYR_VALIDATE(p, x.shape(-1) % 4 == 0);
    return nets::linear(p, x, 2);
  };
  auto outer = [&model](Params p, Tensor x) { return model(p["encoder"]["head"], x); };
  CHECK(z::trace(outer, z::random::key(0), Array::ones({2, 8})).size() == 2);
  CHECK_ERROR(z::trace(outer, z::random::key(0), Array::ones({2, 6})), "[validate]", "encoder/head",
              "`x.shape(-1) % 4 == 0` does not hold", "nets_test.cpp:" + std::to_string(line));
}

// =============================================================================================
// Errors name the layer's parameter path and the shapes
// =============================================================================================

TEST_CASE("nets errors: conv input of the wrong rank") {
  auto model = [](Params p, Tensor x) { return nets::conv_2d(p["encoder"]["conv"], x, 4, {3, 3}); };
  CHECK_ERROR(z::trace(model, z::random::key(0), Array::ones({4, 4})), "encoder/conv", "[4, 4]");
  CHECK_ERROR(z::trace(model, z::random::key(0), Array::ones({1, 2, 4, 4, 3})), "encoder/conv", "[1, 2, 4, 4, 3]");
  auto one = [](Params p, Tensor x) { return nets::conv_1d(p["encoder"]["conv"], x, 4, {3}); };
  CHECK_ERROR(z::trace(one, z::random::key(0), Array::ones({2, 8, 8, 3})), "encoder/conv", "[2, 8, 8, 3]");
}

TEST_CASE("nets errors: channels not divisible by groups") {
  nets::ConvOptions o;
  o.groups = 2;
  auto model = [o](Params p, Tensor x) { return nets::conv_2d(p["encoder"]["conv"], x, 4, {2, 2}, o); };
  CHECK_ERROR(z::trace(model, z::random::key(0), Array::ones({1, 4, 4, 3})), "encoder/conv", "3", "2 groups");
  auto outs = [o](Params p, Tensor x) { return nets::conv_2d(p["encoder"]["conv"], x, 5, {2, 2}, o); };
  CHECK_ERROR(z::trace(outs, z::random::key(0), Array::ones({1, 4, 4, 4})), "encoder/conv", "5", "2 groups");
}

TEST_CASE("nets errors: window larger than the padded input, for conv and pooling") {
  nets::ConvOptions o;
  o.padding = "VALID";
  auto model = [o](Params p, Tensor x) { return nets::conv_2d(p["encoder"]["conv"], x, 4, {5, 2}, o); };
  CHECK_ERROR(z::trace(model, z::random::key(0), Array::ones({1, 3, 3, 2})), "encoder/conv", "[1, 3, 3, 2]", "5");
  CHECK_ERROR(z::jit([](Tensor x) { return nets::max_pool(x, {5, 2}); })(Array::ones({1, 3, 3, 2})), "max_pool",
              "[1, 3, 3, 2]");
  CHECK_ERROR(z::jit([](Tensor x) { return nets::avg_pool(x, {2, 5}, {1}, "VALID"); })(Array::ones({3, 3, 2})),
              "avg_pool", "[3, 3, 2]");
}

TEST_CASE("nets errors: heads that do not divide the model dimension") {
  auto model = [](Params p, Tensor x) { return nets::multi_head_self_attention(p["encoder"]["attn"], x, 4); };
  CHECK_ERROR(z::trace(model, z::random::key(0), Array::ones({2, 3, 6})), "encoder/attn", "6", "4");
  auto linear_attention = [](Params, Tensor x) { return nets::multi_head_linear_attention(x, x, x, 4); };
  CHECK_ERROR(z::trace(linear_attention, z::random::key(0), Array::ones({2, 3, 6})), "[2, 3, 6]", "4");
}

TEST_CASE("nets errors: an attention mask that does not broadcast") {
  auto model = [](Params p, Tensor x, Tensor mask) {
    nets::AttentionOptions o;
    o.mask = mask;
    return nets::multi_head_self_attention(p["encoder"]["attn"], x, 2, o);
  };
  CHECK_ERROR(z::trace(model, z::random::key(0), Array::ones({2, 3, 4}), Array::ones({2, 5}, DType::bool_)),
              "encoder/attn", "[2, 5]");
  auto single = [](Params p, Tensor x, Tensor mask) { return nets::single_head_attention(p["sha"], x, x, x, mask); };
  CHECK_ERROR(z::trace(single, z::random::key(0), Array::ones({2, 3, 4}), Array::ones({4, 4})), "sha", "[4, 4]");
}

TEST_CASE("nets errors: token ids of the wrong dtype, and out of range under jit") {
  auto model = [](Params p, Tensor ids) { return nets::token_embed(p["embed"], ids, 7, 3); };
  CHECK_ERROR(z::trace(model, z::random::key(0), Array::ones({2, 3})), "embed", "f32[2, 3]");
  ParamTree params = z::trace(model, z::random::key(0), Array::zeros({2, 3}, DType::i32));
  auto run = z::jit(model);
  Array ok = Array::from<int32_t>({2, 3}, std::vector<int32_t>{0, 6, 3, 1, 2, 5});
  CHECK(run(params, ok).shape() == Shape{2, 3, 3});
  Array bad = Array::from<int32_t>({2, 3}, std::vector<int32_t>{0, 7, 3, -1, 2, 5});
  CHECK_ERROR(run(params, bad), "embed", "(2 of 6 elements)");
  // The compiled function stays usable after a failed check.
  CHECK(run(params, ok).shape() == Shape{2, 3, 3});
}
