// Training end to end: gradients of whole models, losses, metrics, optimizers, schedules and tree
// utilities, each checked against an independent reference written as plain loops in this file
// (never zephyr ops); bad input errors; and a short training run on a synthetic problem.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <zephyr/zephyr.h>

#include "test_support.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace z = zephyr;

namespace {

// ==== Helpers ==================================================================================

// Relative tolerances: rounding of the same computation done in another order.
constexpr double f32_tol = 1e-5;
constexpr double f64_tol = 1e-10;
double tolerance(z::DType dtype) { return dtype == z::DType::f64 ? f64_tol : f32_tol; }

z::Array random_array(z::Shape shape, uint64_t seed, z::DType dtype = z::DType::f64, double lo = -1, double hi = 1) {
  return z::random::uniform(z::random::key(seed), std::move(shape), dtype, lo, hi);
}

z::Array labels_of(const std::vector<int32_t>& ids, z::Shape shape = {}) {
  if (shape.empty()) shape = {static_cast<int64_t>(ids.size())};
  return z::Array::from<int32_t>(std::move(shape), ids);
}

std::vector<double> values_of(const z::Array& a) {
  std::vector<double> out(a.size());
  for (int64_t i = 0; i < a.size(); ++i) out[i] = a.at(i);
  return out;
}

using z::testing::contains;
using z::testing::error_of;

// |actual - expected| <= rel * (|expected| + typical), where typical is the mean magnitude of the
// expected values: relative, with a floor so entries near zero do not demand more than the
// computation's rounding allows. Fails on NaN.
bool close(double actual, double expected, double rel, double typical) {
  return std::abs(actual - expected) <= rel * (std::abs(expected) + typical);
}

void check_close(const z::Array& actual, const std::vector<double>& expected, double rel,
                 const std::string& what = "") {
  REQUIRE(actual.size() == static_cast<int64_t>(expected.size()));
  double typical = 1e-300;
  for (double e : expected) typical += std::abs(e) / expected.size();
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO(what, " element ", i, ": ", actual.at(i), " vs expected ", expected[i]);
    CHECK(close(actual.at(i), expected[i], rel, typical));
  }
}

void check_close(double actual, double expected, double rel, const std::string& what = "") {
  INFO(what, ": ", actual, " vs expected ", expected);
  CHECK(close(actual, expected, rel, 0.0));
}

// ---- Trees on the host: (path, values) in order, the reference counterpart of a ParamTree ----
using HostTree = std::vector<std::pair<std::string, std::vector<double>>>;

HostTree to_host(const z::ParamTree& tree) {
  HostTree out;
  for (const auto& [path, a] : tree) out.push_back({path, values_of(a)});
  return out;
}

// Same paths in the same order, and every leaf close to the reference.
void check_tree(const z::ParamTree& actual, const HostTree& expected, double rel) {
  std::vector<std::string> actual_paths, expected_paths;
  for (const auto& leaf : actual) actual_paths.push_back(leaf.first);
  for (const auto& leaf : expected) expected_paths.push_back(leaf.first);
  REQUIRE(actual_paths == expected_paths);
  for (size_t i = 0; i < expected.size(); ++i) check_close(actual.leaves()[i].second, expected[i].second, rel, expected[i].first);
}

// A small tree of random leaves, as an optimizer or tree utility sees it.
z::ParamTree small_tree(uint64_t seed, z::DType dtype = z::DType::f32) {
  return z::ParamTree({{"dense/weights", random_array({2, 3}, seed, dtype)},
                       {"dense/bias", random_array({3}, seed + 1, dtype)},
                       {"head/weights", random_array({3, 1}, seed + 2, dtype)}});
}

// ---- Dense matrices for the hand-written forward and backward passes --------------------------
struct Matrix {
  int64_t rows = 0, cols = 0;
  std::vector<double> v;
  Matrix(int64_t r, int64_t c) : rows(r), cols(c), v(r * c, 0.0) {}
  double& operator()(int64_t i, int64_t j) { return v[i * cols + j]; }
  double operator()(int64_t i, int64_t j) const { return v[i * cols + j]; }
};

// A 2-D array as a matrix; a 1-D array as a single row.
Matrix matrix_of(const z::Array& a) {
  Matrix m(a.ndim() == 2 ? a.shape(0) : 1, a.shape(-1));
  m.v = values_of(a);
  return m;
}

// ==== Reference model: MLP with relu, softmax cross-entropy, backward by hand ==================

// The model under test: nets::mlp (relu between layers) and softmax cross-entropy.
z::Tensor mlp_loss(z::Params p, z::Tensor x, z::Tensor labels) {
  return z::losses::softmax_cross_entropy(z::nets::mlp(p, x, {5, 4, 3}), labels);
}

struct MlpForward {
  std::vector<Matrix> inputs;  // inputs[l]: the input of layer l (x, then relu outputs)
  std::vector<Matrix> pre;     // pre[l] = inputs[l] W_l + b_l; the last one is the logits
};

MlpForward mlp_forward(const z::ParamTree& params, const z::Array& x, int layers) {
  MlpForward f;
  f.inputs.push_back(matrix_of(x));
  for (int l = 0; l < layers; ++l) {
    Matrix w = matrix_of(params.at(fmt::format("{}/weights", l))), b = matrix_of(params.at(fmt::format("{}/bias", l)));
    const Matrix& h = f.inputs[l];
    Matrix y(h.rows, w.cols);
    for (int64_t i = 0; i < h.rows; ++i)
      for (int64_t j = 0; j < w.cols; ++j) {
        double s = b.v[j];
        for (int64_t k = 0; k < h.cols; ++k) s += h(i, k) * w(k, j);
        y(i, j) = s;
      }
    f.pre.push_back(y);
    if (l + 1 < layers) {
      for (double& v : y.v) v = std::max(v, 0.0);
      f.inputs.push_back(y);
    }
  }
  return f;
}

struct MlpReference {
  double loss = 0;
  HostTree grads;          // in the traced order: 0/weights, 0/bias, 1/weights, ...
  std::vector<double> dx;  // gradient with respect to the input
};

MlpReference mlp_reference(const z::ParamTree& params, const z::Array& x, const z::Array& labels, int layers = 3) {
  MlpForward f = mlp_forward(params, x, layers);
  const Matrix& logits = f.pre.back();
  const int64_t n = logits.rows, classes = logits.cols;

  // Mean softmax cross-entropy, and its gradient (softmax - one_hot) / n.
  MlpReference r;
  Matrix d(n, classes);
  for (int64_t i = 0; i < n; ++i) {
    double m = logits(i, 0);
    for (int64_t j = 1; j < classes; ++j) m = std::max(m, logits(i, j));
    double s = 0;
    for (int64_t j = 0; j < classes; ++j) s += std::exp(logits(i, j) - m);
    double lse = m + std::log(s);
    int32_t label = labels.data<int32_t>()[i];
    r.loss += (lse - logits(i, label)) / n;
    for (int64_t j = 0; j < classes; ++j) d(i, j) = (std::exp(logits(i, j) - lse) - (j == label ? 1.0 : 0.0)) / n;
  }

  // Backward, last layer first: dW = hᵀ d, db = Σ_rows d, dh = d Wᵀ masked by relu'.
  r.grads.resize(2 * layers);
  for (int l = layers - 1; l >= 0; --l) {
    Matrix w = matrix_of(params.at(fmt::format("{}/weights", l)));
    const Matrix& h = f.inputs[l];
    Matrix dw(w.rows, w.cols), db(1, w.cols), dh(n, w.rows);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < w.cols; ++j) {
        db(0, j) += d(i, j);
        for (int64_t k = 0; k < w.rows; ++k) {
          dw(k, j) += h(i, k) * d(i, j);
          dh(i, k) += d(i, j) * w(k, j);
        }
      }
    r.grads[2 * l] = {fmt::format("{}/weights", l), dw.v};
    r.grads[2 * l + 1] = {fmt::format("{}/bias", l), db.v};
    if (l > 0)
      for (size_t i = 0; i < dh.v.size(); ++i) dh.v[i] *= f.pre[l - 1].v[i] > 0 ? 1.0 : 0.0;
    d = dh;
  }
  r.dx = d.v;
  return r;
}

// The MLP problem of the gradient tests: f64 params (traced with an f64 x), random biases so
// that every parameter matters.
struct MlpProblem {
  z::Array x = random_array({6, 7}, 1);
  z::Array labels = labels_of({0, 2, 1, 2, 0, 1});
  z::ParamTree params;
  MlpProblem() {
    params = z::trace(mlp_loss, z::random::key(3), x, labels);
    for (int l = 0; l < 3; ++l) {
      std::string path = fmt::format("{}/bias", l);
      params.set(path, random_array(params.at(path).shape(), 10 + l, z::DType::f64, -0.3, 0.3));
    }
  }
};

// ==== Reference optimizers =====================================================================

bool named_weights(const std::string& path) { return path == "weights" || path.ends_with("/weights"); }

// Every optimizer in zephyr::optim written as plain loops; state in zephyr's layout.
struct ReferenceOptimizer {
  enum class Kind { sgd, adam } kind = Kind::sgd;
  std::function<double(int)> lr = [](int) { return 0.1; };
  double momentum = 0;
  bool nesterov = false;
  double b1 = 0.9, b2 = 0.999, eps = 1e-8, weight_decay = 0;
  std::function<bool(const std::string&)> decay = named_weights;
  double max_norm = 0;  // > 0: clip the gradients' global norm first

  // Params and state after one step per gradient tree.
  std::pair<HostTree, HostTree> run(HostTree params, const std::vector<HostTree>& grads) const {
    HostTree first = params, second = params;  // velocity or mu, and nu
    for (auto* moments : {&first, &second})
      for (auto& leaf : *moments) std::fill(leaf.second.begin(), leaf.second.end(), 0.0);
    int t = 0;
    for (HostTree g : grads) {
      ++t;
      if (max_norm > 0) {
        double norm2 = 0;
        for (const auto& leaf : g)
          for (double v : leaf.second) norm2 += v * v;
        double factor = std::min(1.0, max_norm / std::sqrt(norm2));
        for (auto& leaf : g)
          for (double& v : leaf.second) v *= factor;
      }
      double rate = lr(t);
      for (size_t i = 0; i < params.size(); ++i)
        for (size_t j = 0; j < params[i].second.size(); ++j) {
          double& p = params[i].second[j];
          double d = g[i].second[j];
          double& m = first[i].second[j];
          double& v = second[i].second[j];
          if (kind == Kind::sgd && momentum == 0) {
            p -= rate * d;
          } else if (kind == Kind::sgd) {
            m = momentum * m + d;
            p -= rate * (nesterov ? d + momentum * m : m);
          } else {
            m = b1 * m + (1 - b1) * d;
            v = b2 * v + (1 - b2) * d * d;
            double update = (m / (1 - std::pow(b1, t))) / (std::sqrt(v / (1 - std::pow(b2, t))) + eps);
            if (weight_decay != 0 && decay(params[i].first)) update += weight_decay * p;
            p -= rate * update;
          }
        }
    }
    HostTree state{{"step", {static_cast<double>(t)}}};
    auto append = [&](const std::string& name, const HostTree& moments) {
      for (const auto& [path, v] : moments) state.push_back({name + "/" + path, v});
    };
    if (kind == Kind::adam) {
      append("mu", first);
      append("nu", second);
    } else if (momentum != 0) {
      append("velocity", first);
    }
    return {params, state};
  }
};

// `opt` run as a user would: init on the host, then one jitted step per gradient tree.
std::pair<z::ParamTree, z::ParamTree> run_optimizer(const z::optim::Optimizer& opt, const z::ParamTree& params,
                                                    const std::vector<z::ParamTree>& grads) {
  auto step = z::jit([opt](z::Params p, z::OptState s, z::Params g) {
    auto [p2, s2] = opt.update(z::TensorTree(g), s, p);
    return std::tuple{p2, s2};
  });
  z::ParamTree p = params, s = opt.init(params);
  for (const z::ParamTree& g : grads) std::tie(p, s) = step(p, s, g);
  CHECK(step.cache_size() == 1);  // the state keeps its layout from step to step
  return {p, s};
}

// Three steps of `opt` against `reference` on the same random params and gradients.
void check_optimizer(const z::optim::Optimizer& opt, const ReferenceOptimizer& reference,
                     z::DType dtype = z::DType::f32) {
  INFO("optimizer ", opt.name, " on ", z::name(dtype), " params");
  z::ParamTree params = small_tree(100, dtype);
  std::vector<z::ParamTree> grads{small_tree(200, dtype), small_tree(300, dtype), small_tree(400, dtype)};
  std::vector<HostTree> host_grads;
  for (const auto& g : grads) host_grads.push_back(to_host(g));

  auto [p, s] = run_optimizer(opt, params, grads);
  auto [expected_p, expected_s] = reference.run(to_host(params), host_grads);
  check_tree(p, expected_p, tolerance(dtype));
  check_tree(s, expected_s, tolerance(dtype));

  // The initial state has the layout of the final one, all zeros.
  z::ParamTree init = opt.init(params);
  REQUIRE(init.size() == s.size());
  for (size_t i = 0; i < init.size(); ++i) {
    CHECK(init.leaves()[i].first == s.leaves()[i].first);
    CHECK(init.leaves()[i].second.shape() == s.leaves()[i].second.shape());
    CHECK(values_of(init.leaves()[i].second) == std::vector<double>(init.leaves()[i].second.size(), 0.0));
  }
}

// ==== Reference losses =========================================================================

// log σ(x) without overflow: -log(1 + e^-x) for x >= 0, x - log(1 + e^x) below.
double log_sigmoid(double x) { return x >= 0 ? -std::log1p(std::exp(-x)) : x - std::log1p(std::exp(x)); }

double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

// Softmax cross-entropy of each row and its gradient (softmax - one_hot) / rows.
std::pair<double, std::vector<double>> softmax_cross_entropy_reference(const Matrix& logits, const z::Array& labels) {
  double loss = 0;
  std::vector<double> grad(logits.v.size());
  for (int64_t i = 0; i < logits.rows; ++i) {
    double m = -INFINITY;
    for (int64_t j = 0; j < logits.cols; ++j) m = std::max(m, logits(i, j));
    double s = 0;
    for (int64_t j = 0; j < logits.cols; ++j) s += std::exp(logits(i, j) - m);
    double lse = m + std::log(s);
    int32_t label = labels.data<int32_t>()[i];
    loss += (lse - logits(i, label)) / logits.rows;
    for (int64_t j = 0; j < logits.cols; ++j)
      grad[i * logits.cols + j] = (std::exp(logits(i, j) - lse) - (j == label)) / logits.rows;
  }
  return {loss, grad};
}

// First index of the largest entry of each line along `axis` of a rows x cols matrix.
std::vector<int32_t> argmax_reference(const Matrix& x, int axis) {
  int64_t lines = axis == 1 ? x.rows : x.cols, length = axis == 1 ? x.cols : x.rows;
  std::vector<int32_t> out(lines);
  for (int64_t a = 0; a < lines; ++a) {
    auto at = [&](int64_t k) { return axis == 1 ? x(a, k) : x(k, a); };
    for (int64_t k = 1; k < length; ++k)
      if (at(k) > at(out[a])) out[a] = static_cast<int32_t>(k);
  }
  return out;
}

// A batch with ordinary rows and rows whose logits would overflow exp() in a naive softmax.
z::Array large_logits(z::DType dtype) {
  std::vector<double> v = values_of(random_array({4, 5}, 40, z::DType::f64, -3, 3));
  std::vector<double> big{1000, 0, -1000, 999, 500, -1000, -999, -1001, -1000, -1000};
  v.insert(v.end(), big.begin(), big.end());
  return z::Array::from<double>({6, 5}, v).astype(dtype);
}

}  // namespace

// ==== 1-3. Gradients of a whole model ==========================================================

TEST_CASE("a whole MLP's gradient tree equals a hand-written backward pass, leaf by leaf") {
  MlpProblem problem;
  for (const auto& [path, a] : problem.params) CHECK(a.dtype() == z::DType::f64);

  z::ParamTree grads = z::grad(mlp_loss)(problem.params, problem.x, problem.labels);

  // Exactly the params' paths, in the same order, with the same shapes and dtypes.
  REQUIRE(grads.size() == problem.params.size());
  for (size_t i = 0; i < grads.size(); ++i) {
    const auto& [path, g] = grads.leaves()[i];
    CHECK(path == problem.params.leaves()[i].first);
    CHECK(g.shape() == problem.params.leaves()[i].second.shape());
    CHECK(g.dtype() == z::DType::f64);
  }
  MlpReference reference = mlp_reference(problem.params, problem.x, problem.labels);
  CHECK(reference.grads[0].first == "0/weights");
  CHECK(reference.grads[5].first == "2/bias");
  check_tree(grads, reference.grads, f64_tol);
}

TEST_CASE("gradients inside jit equal gradients outside bitwise, and value_and_grad's value is the loss") {
  MlpProblem problem;
  z::ParamTree outside = z::grad(mlp_loss)(problem.params, problem.x, problem.labels);
  z::ParamTree inside = z::jit([](z::Params p, z::Tensor x, z::Tensor y) { return z::grad(mlp_loss)(p, x, y); })(
      problem.params, problem.x, problem.labels);
  REQUIRE(inside.size() == outside.size());
  for (size_t i = 0; i < inside.size(); ++i) {
    CHECK(inside.leaves()[i].first == outside.leaves()[i].first);
    CHECK(inside.leaves()[i].second.bitwise_equal(outside.leaves()[i].second));
  }

  auto [value, grads] = z::value_and_grad(mlp_loss)(problem.params, problem.x, problem.labels);
  MlpReference reference = mlp_reference(problem.params, problem.x, problem.labels);
  CHECK(value.shape() == z::Shape{});
  CHECK(value.dtype() == z::DType::f64);
  check_close(value.item<double>(), reference.loss, f64_tol, "loss");
  for (size_t i = 0; i < grads.size(); ++i) CHECK(grads.leaves()[i].second.bitwise_equal(outside.leaves()[i].second));
}

TEST_CASE("grad<1> differentiates the input Tensor: matches finite differences and the hand backward pass") {
  MlpProblem problem;
  z::Array dx = z::grad<1>(mlp_loss)(problem.params, problem.x, problem.labels);
  REQUIRE(dx.shape() == problem.x.shape());
  CHECK(dx.dtype() == z::DType::f64);
  check_close(dx, mlp_reference(problem.params, problem.x, problem.labels).dx, f64_tol, "dx vs backward pass");

  auto loss = z::jit(mlp_loss);
  const double h = 1e-6;
  std::vector<double> numeric(problem.x.size());
  for (int64_t i = 0; i < problem.x.size(); ++i) {
    z::Array plus = problem.x.clone(), minus = problem.x.clone();
    plus.data<double>()[i] += h;
    minus.data<double>()[i] -= h;
    numeric[i] = (loss(problem.params, plus, problem.labels).item<double>() -
                  loss(problem.params, minus, problem.labels).item<double>()) / (2 * h);
  }
  check_close(dx, numeric, 1e-6, "dx vs finite differences");  // finite differences: ~1e-10 absolute error
}

TEST_CASE("a leaf the loss never uses still gets a (zero) gradient") {
  auto f = [](z::Params p, z::Tensor x) { return z::sum(z::matmul(x, p["used"])); };
  z::ParamTree params({{"used", random_array({3, 2}, 50)}, {"unused", random_array({4}, 51)}});
  z::Array x = random_array({5, 3}, 52);
  z::ParamTree grads = z::grad(f)(params, x);
  REQUIRE(grads.size() == 2);
  CHECK(grads.leaves()[1].first == "unused");
  CHECK(values_of(grads.at("unused")) == std::vector<double>(4, 0.0));
  std::vector<double> expected(6, 0.0);  // d/dW Σ xW = column sums of x, repeated per output
  for (int64_t i = 0; i < 5; ++i)
    for (int64_t k = 0; k < 3; ++k)
      for (int64_t j = 0; j < 2; ++j) expected[k * 2 + j] += x.at(i * 3 + k);
  check_close(grads.at("used"), expected, f64_tol);
}

// ==== 4. Losses and metrics ====================================================================

TEST_CASE("mse is the mean squared difference") {
  auto mse = z::jit([](z::Tensor a, z::Tensor b) { return z::losses::mse(a, b); });
  for (z::DType dtype : {z::DType::f32, z::DType::f64}) {
    z::Array a = random_array({3, 4}, 60, dtype), b = random_array({3, 4}, 61, dtype);
    double expected = 0;
    for (int64_t i = 0; i < a.size(); ++i) expected += (a.at(i) - b.at(i)) * (a.at(i) - b.at(i)) / a.size();
    z::Array value = mse(a, b);
    CHECK(value.dtype() == dtype);
    check_close(value.at(0), expected, tolerance(dtype), z::name(dtype));
  }
}

TEST_CASE("softmax_cross_entropy and its gradient stay finite and correct for logits like ±1000") {
  auto value_and_grad = z::value_and_grad([](z::Tensor logits, z::Tensor labels) {
    return z::losses::softmax_cross_entropy(logits, labels);
  });
  z::Array labels = labels_of({0, 4, 2, 1, 3, 1});  // row 4: label on 999 next to 1000
  for (z::DType dtype : {z::DType::f32, z::DType::f64}) {
    INFO(z::name(dtype));
    z::Array logits = large_logits(dtype);
    auto [expected_loss, expected_grad] = softmax_cross_entropy_reference(matrix_of(logits), labels);
    auto [loss, grad] = value_and_grad(logits, labels);
    CHECK(std::isfinite(loss.at(0)));
    check_close(loss.at(0), expected_loss, tolerance(dtype), "loss");
    check_close(grad, expected_grad, tolerance(dtype), "gradient");
  }
}

TEST_CASE("softmax_cross_entropy averages over every batch position of (..., classes) logits") {
  z::Array logits = random_array({2, 3, 4}, 65), labels = labels_of({0, 3, 1, 2, 2, 0}, {2, 3});
  z::Array loss = z::jit([](z::Tensor l, z::Tensor y) { return z::losses::softmax_cross_entropy(l, y); })(logits, labels);
  Matrix rows = matrix_of(logits.reshape({6, 4}));
  check_close(loss.at(0), softmax_cross_entropy_reference(rows, labels.reshape({6})).first, f64_tol);
}

TEST_CASE("binary_cross_entropy and its gradient match -t·log σ(x) - (1-t)·log(1-σ(x)), also at ±50") {
  auto value_and_grad = z::value_and_grad([](z::Tensor logits, z::Tensor targets) {
    return z::losses::binary_cross_entropy(logits, targets);
  });
  std::vector<double> x{50, -50, 50, -50, 0, 0, 1.5, -0.7, 3, 0.2};
  std::vector<double> t{1, 1, 0, 0, 1, 0.3, 0, 0.5, 1, 0.9};
  for (z::DType dtype : {z::DType::f32, z::DType::f64}) {
    INFO(z::name(dtype));
    z::Array logits = z::Array::from<double>({2, 5}, x).astype(dtype);
    z::Array targets = z::Array::from<double>({2, 5}, t).astype(dtype);
    double expected = 0;
    std::vector<double> expected_grad(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      double xi = logits.at(i), ti = targets.at(i);
      expected += (-ti * log_sigmoid(xi) - (1 - ti) * log_sigmoid(-xi)) / x.size();
      expected_grad[i] = (sigmoid(xi) - ti) / x.size();
    }
    auto [loss, grad] = value_and_grad(logits, targets);
    CHECK(std::isfinite(loss.at(0)));
    check_close(loss.at(0), expected, tolerance(dtype), "loss");
    check_close(grad, expected_grad, tolerance(dtype), "gradient");
  }
}

TEST_CASE("l2_penalty is half the sum of every leaf's squares") {
  auto penalty = z::jit([](z::Params p) { return z::losses::l2_penalty(p); });
  for (z::DType dtype : {z::DType::f32, z::DType::f64}) {
    z::ParamTree tree = small_tree(70, dtype);
    double expected = 0;
    for (const auto& [path, a] : tree)
      for (int64_t i = 0; i < a.size(); ++i) expected += 0.5 * a.at(i) * a.at(i);
    check_close(penalty(tree).at(0), expected, tolerance(dtype), z::name(dtype));
  }
}

TEST_CASE("one_hot rows, argmax picking the first of ties, and accuracy") {
  // Rows with ties: {1, 3, 3, 2}, all equal, two -0.5s, a clear winner.
  z::Array x = z::Array::from({4, 4}, {1, 3, 3, 2, 5, 5, 5, 5, -1, -2, -0.5, -0.5, 0, 0, 0, 7});
  z::Array labels = labels_of({1, 1, 2, 3});

  SUBCASE("one_hot") {
    z::Array ids = labels_of({2, 0, 3, 1, 1, 0}, {2, 3});
    z::Array hot = z::jit([](z::Tensor y) { return z::losses::one_hot(y, 4, z::DType::f64); })(ids);
    REQUIRE(hot.shape() == z::Shape{2, 3, 4});
    CHECK(hot.dtype() == z::DType::f64);
    std::vector<double> expected(24, 0.0);
    for (int64_t i = 0; i < 6; ++i) expected[i * 4 + ids.data<int32_t>()[i]] = 1.0;
    CHECK(values_of(hot) == expected);
  }
  SUBCASE("argmax along each axis") {
    auto argmax = z::jit([](z::Tensor v, int axis) { return z::losses::argmax(v, axis); });
    for (int axis : {1, 0}) {
      z::Array ids = argmax(x, axis);
      CHECK(ids.dtype() == z::DType::i32);
      CHECK(ids.shape() == z::Shape{4});
      CHECK(ids.to_vector<int32_t>() == argmax_reference(matrix_of(x), axis));
    }
    CHECK(argmax(x, -1).to_vector<int32_t>() == std::vector<int32_t>{1, 0, 2, 3});
  }
  SUBCASE("accuracy") {
    z::Array acc = z::jit([](z::Tensor l, z::Tensor y) { return z::metrics::accuracy(l, y); })(x, labels);
    std::vector<int32_t> predicted = argmax_reference(matrix_of(x), 1);
    double hits = 0;
    for (size_t i = 0; i < predicted.size(); ++i) hits += predicted[i] == labels.data<int32_t>()[i];
    CHECK(acc.dtype() == z::DType::f32);
    CHECK(acc.at(0) == doctest::Approx(hits / 4));
    CHECK(acc.at(0) == 0.75);  // the tied row 1 predicts class 0, not its label 1
  }
}

// ==== 5. Optimizers and schedules ==============================================================

TEST_CASE("sgd, sgd with momentum and Nesterov sgd match hand-computed updates over 3 jitted steps") {
  check_optimizer(z::optim::sgd(0.1), {});
  check_optimizer(z::optim::sgd(0.1, 0.9), {.momentum = 0.9});
  check_optimizer(z::optim::sgd(0.05, 0.8, true), {.lr = [](int) { return 0.05; }, .momentum = 0.8, .nesterov = true});
}

TEST_CASE("adam matches hand-computed bias-corrected updates, and its state is step, mu/<path>, nu/<path>") {
  using Kind = ReferenceOptimizer::Kind;
  check_optimizer(z::optim::adam(0.1), {.kind = Kind::adam});
  check_optimizer(z::optim::adam(0.02, 0.8, 0.99, 1e-3),
                  {.kind = Kind::adam, .lr = [](int) { return 0.02; }, .b1 = 0.8, .b2 = 0.99, .eps = 1e-3});

  z::ParamTree state = z::optim::adam(0.1).init(small_tree(1));
  std::vector<std::string> paths;
  for (const auto& [path, a] : state) paths.push_back(path);
  CHECK(paths == std::vector<std::string>{"step", "mu/dense/weights", "mu/dense/bias", "mu/head/weights",
                                          "nu/dense/weights", "nu/dense/bias", "nu/head/weights"});
  CHECK(state.at("step").shape() == z::Shape{});
  CHECK(state.at("step").dtype() == z::DType::i32);
  CHECK(state.at("nu/head/weights").shape() == z::Shape{3, 1});
  CHECK(z::optim::sgd(0.1, 0.9).init(small_tree(1)).keys() == std::vector<std::string>{"step", "velocity"});
}

TEST_CASE("adamw decays only leaves named 'weights' by default, or the leaves a custom mask selects") {
  using Kind = ReferenceOptimizer::Kind;
  check_optimizer(z::optim::adamw(0.1, 0.3), {.kind = Kind::adam, .weight_decay = 0.3});
  auto dense_only = [](const std::string& path) { return path.starts_with("dense/"); };
  check_optimizer(z::optim::adamw(0.1, 0.3, dense_only), {.kind = Kind::adam, .weight_decay = 0.3, .decay = dense_only});

  // The default mask really skips the bias: adamw and adam differ on weights only.
  z::ParamTree params = small_tree(5);
  std::vector<z::ParamTree> grads{small_tree(6)};
  z::ParamTree decayed = run_optimizer(z::optim::adamw(0.1, 0.3), params, grads).first;
  z::ParamTree plain = run_optimizer(z::optim::adam(0.1), params, grads).first;
  CHECK(decayed.at("dense/bias").bitwise_equal(plain.at("dense/bias")));
  CHECK_FALSE(decayed.at("dense/weights").bitwise_equal(plain.at("dense/weights")));
  CHECK_FALSE(decayed.at("head/weights").bitwise_equal(plain.at("head/weights")));
}

TEST_CASE("masked trains the leaves it selects as its inner optimizer would alone, and freezes the rest, decay included") {
  using Kind = ReferenceOptimizer::Kind;
  auto dense = [](const std::string& path) { return path.starts_with("dense/"); };
  auto only_dense = [&](const HostTree& tree) {
    HostTree out;
    for (const auto& leaf : tree)
      if (dense(leaf.first)) out.push_back(leaf);
    return out;
  };
  const z::ParamTree params = small_tree(100);
  const std::vector<z::ParamTree> grads{small_tree(200), small_tree(300), small_tree(400)};
  std::vector<HostTree> host_grads;
  for (const auto& g : grads) host_grads.push_back(only_dense(to_host(g)));

  // adamw decays every "weights" leaf; the frozen head/weights must not move even so.
  auto [p, s] = run_optimizer(z::optim::masked(z::optim::adamw(0.1, 0.3), dense), params, grads);
  CHECK(p.at("head/weights").bitwise_equal(params.at("head/weights")));
  auto [want_p, want_s] = ReferenceOptimizer{.kind = Kind::adam, .weight_decay = 0.3}.run(only_dense(to_host(params)), host_grads);
  check_tree(z::ParamTree({{"dense/weights", p.at("dense/weights")}, {"dense/bias", p.at("dense/bias")}}), want_p, 1e-5);
  check_tree(s, want_s, 1e-5);  // step, mu/dense/..., nu/dense/...: nothing for the frozen leaf
  CHECK_ERROR(z::optim::masked(z::optim::adam(0.1), [](const std::string& path) { return path == "dense"; }).init(params),
              "[masked]", "selects none of the 3 leaves", "'dense/weights'");
}

TEST_CASE("multi_transform gives each labelled group its own optimizer and state") {
  using Kind = ReferenceOptimizer::Kind;
  auto group = [](const std::string& path) { return path.starts_with("dense/") ? std::string("body") : std::string("head"); };
  const z::optim::Optimizer opt =
      z::optim::multi_transform({{"body", z::optim::adam(0.1)}, {"head", z::optim::sgd(0.5, 0.9)}}, group);
  const z::ParamTree params = small_tree(10);
  const std::vector<z::ParamTree> grads{small_tree(20), small_tree(30)};
  auto [p, s] = run_optimizer(opt, params, grads);
  auto part = [&](const HostTree& tree, const std::string& label) {
    HostTree out;
    for (const auto& leaf : tree)
      if (group(leaf.first) == label) out.push_back(leaf);
    return out;
  };
  for (const auto& [label, reference] : std::vector<std::pair<std::string, ReferenceOptimizer>>{
           {"body", {.kind = Kind::adam}}, {"head", {.kind = Kind::sgd, .lr = [](int) { return 0.5; }, .momentum = 0.9}}}) {
    INFO(label);
    std::vector<HostTree> host_grads;
    for (const auto& g : grads) host_grads.push_back(part(to_host(g), label));
    auto [want_p, want_s] = reference.run(part(to_host(params), label), host_grads);
    std::vector<z::ParamTree::Leaf> got;
    for (const auto& [path, a] : p)
      if (group(path) == label) got.push_back({path, a});
    check_tree(z::ParamTree(got), want_p, 1e-5);
    check_tree(s[label], want_s, 1e-5);
  }
  CHECK(s.keys() == std::vector<std::string>{"body", "head"});
  CHECK_ERROR(z::optim::multi_transform({{"body", z::optim::adam(0.1)}}, group).init(params), "[multi_transform]",
              "leaf 'head/weights' has the label 'head', which names no optimizer (labels: 'body')");
}

TEST_CASE("clip_by_global_norm rescales gradients above the threshold and leaves them alone below") {
  using Kind = ReferenceOptimizer::Kind;
  // The random gradients have global norms around 2.
  check_optimizer(z::optim::clip_by_global_norm(0.5, z::optim::sgd(0.1)), {.max_norm = 0.5});
  check_optimizer(z::optim::clip_by_global_norm(0.5, z::optim::adam(0.1)), {.kind = Kind::adam, .max_norm = 0.5});
  check_optimizer(z::optim::clip_by_global_norm(100, z::optim::sgd(0.1, 0.9)), {.momentum = 0.9});

  // Below the threshold the gradients pass unchanged: bitwise the inner optimizer's result.
  z::ParamTree params = small_tree(7);
  std::vector<z::ParamTree> grads{small_tree(8), small_tree(9)};
  z::ParamTree clipped = run_optimizer(z::optim::clip_by_global_norm(100, z::optim::sgd(0.1)), params, grads).first;
  z::ParamTree plain = run_optimizer(z::optim::sgd(0.1), params, grads).first;
  for (size_t i = 0; i < plain.size(); ++i) CHECK(clipped.leaves()[i].second.bitwise_equal(plain.leaves()[i].second));
}

TEST_CASE("cosine and warmup schedules: values by step, and as an optimizer's learning rate") {
  auto values = [](const z::optim::LearningRate& lr, const std::vector<int>& steps) {
    auto at = z::jit([lr](z::Tensor step) { return lr.at(step); });
    std::vector<double> out;
    for (int s : steps) out.push_back(at(z::Array::scalar<float>(static_cast<float>(s))).at(0));
    return out;
  };
  // peak · (final + (1 - final) · ½(1 + cos(π · min(step / steps, 1)))).
  auto cosine = [](double peak, int steps, double final_fraction) {
    return [=](int step) {
      double progress = std::min(static_cast<double>(step) / steps, 1.0);
      return peak * (final_fraction + (1 - final_fraction) * 0.5 * (1 + std::cos(M_PI * progress)));
    };
  };

  SUBCASE("cosine at step 1, half way, the end and beyond") {
    std::vector<int> steps{1, 5, 10, 15};
    std::vector<double> got = values(z::optim::cosine(0.5, 10, 0.1), steps);
    auto expected = cosine(0.5, 10, 0.1);
    for (size_t i = 0; i < steps.size(); ++i) check_close(got[i], expected(steps[i]), f32_tol, fmt::format("step {}", steps[i]));
    check_close(got[1], 0.5 * (0.1 + 0.9 * 0.5), f32_tol, "half way");
    check_close(got[2], 0.05, f32_tol, "end");
    std::vector<double> to_zero = values(z::optim::cosine(1.0, 4), {4});
    CHECK(std::abs(to_zero[0]) < 1e-7);
  }
  SUBCASE("warmup ramps linearly to the constant after it") {
    std::vector<int> steps{1, 2, 4, 8};
    std::vector<double> got = values(z::optim::warmup(4, 0.2), steps);
    for (size_t i = 0; i < steps.size(); ++i)
      check_close(got[i], 0.2 * std::min(steps[i] / 4.0, 1.0), f32_tol, fmt::format("step {}", steps[i]));
  }
  SUBCASE("warmup delays the schedule after it: cosine starts from its own step 1") {
    std::vector<double> got = values(z::optim::warmup(2, z::optim::cosine(1.0, 4)), {1, 2, 3, 4, 6});
    auto decay = cosine(1.0, 4, 0.0);
    std::vector<double> expected{0.5 * decay(1), decay(1), decay(1), decay(2), decay(4)};
    for (size_t i = 0; i < got.size(); ++i) check_close(got[i], expected[i], f32_tol, fmt::format("entry {}", i));
  }
  SUBCASE("sgd follows the schedule from step 1") {
    check_optimizer(z::optim::sgd(z::optim::cosine(0.5, 3, 0.2)), {.lr = cosine(0.5, 3, 0.2)});
    check_optimizer(z::optim::sgd(z::optim::warmup(2, 0.3)), {.lr = [](int t) { return 0.3 * std::min(t / 2.0, 1.0); }});
  }
}

// ==== 6. Tree utilities ========================================================================

TEST_CASE("map, map_with_path, merge and squared_norm inside jit match loops") {
  z::ParamTree tree = small_tree(80);
  auto utilities = z::jit([](z::Params p) {
    z::TensorTree t(p);
    auto twice_plus_one = z::map(t, [](const z::Tensor& x) { return x * 2.0 + 1.0; });
    auto decayed = z::map_with_path(t, [](const std::string& path, const z::Tensor& x) {
      return path.ends_with("weights") ? x * 0.9 : x;
    });
    // (Each value is returned once: see the BUG test below on results returned twice.)
    auto negated_dense = z::map(t["dense"], [](const z::Tensor& x) { return -x; });
    auto merged = z::merge({{"dense", negated_dense}, {"norm", z::TensorTree({{"", z::squared_norm(t)}})}});
    return std::tuple{twice_plus_one, decayed, merged};
  });
  auto [twice_plus_one, decayed, merged] = utilities(tree);

  HostTree expected_map = to_host(tree), expected_decay = to_host(tree);
  double expected_norm = 0;
  for (size_t i = 0; i < tree.size(); ++i)
    for (size_t j = 0; j < expected_map[i].second.size(); ++j) {
      double v = expected_map[i].second[j];
      expected_norm += v * v;
      expected_map[i].second[j] = 2 * v + 1;
      if (expected_decay[i].first.ends_with("weights")) expected_decay[i].second[j] = 0.9 * v;
    }
  check_tree(twice_plus_one, expected_map, f32_tol);
  check_tree(decayed, expected_decay, f32_tol);
  CHECK(decayed.at("dense/bias").bitwise_equal(tree.at("dense/bias")));
  HostTree expected_merge{{"dense/weights", values_of(tree.at("dense/weights"))},
                          {"dense/bias", values_of(tree.at("dense/bias"))},
                          {"norm", {expected_norm}}};
  for (auto& [path, v] : expected_merge)
    if (path.starts_with("dense/"))
      for (double& e : v) e = -e;
  check_tree(merged, expected_merge, f32_tol);  // "norm" is squared_norm
}

TEST_CASE("zip_map over two and three trees, and mismatched trees name the differing paths") {
  z::ParamTree a = small_tree(81), b = small_tree(82), c = small_tree(83);
  auto two = z::jit([](z::Params x, z::Params y) {
    return z::zip_map(x, y, [](const z::Tensor& u, const z::Tensor& v) { return u * v - v; });
  });
  auto three = z::jit([](z::Params x, z::Params y, z::Params w) {
    return z::zip_map(x, y, w, [](const z::Tensor& u, const z::Tensor& v, const z::Tensor& s) { return u * v + s; });
  });
  HostTree expected_two = to_host(a), expected_three = to_host(a);
  for (size_t i = 0; i < a.size(); ++i)
    for (int64_t j = 0; j < a.leaves()[i].second.size(); ++j) {
      double u = a.leaves()[i].second.at(j), v = b.leaves()[i].second.at(j), s = c.leaves()[i].second.at(j);
      expected_two[i].second[j] = u * v - v;
      expected_three[i].second[j] = u * v + s;
    }
  check_tree(two(a, b), expected_two, f32_tol);
  check_tree(three(a, b, c), expected_three, f32_tol);

  z::ParamTree renamed({{"dense/weights", b.at("dense/weights")}, {"dense/b", b.at("dense/bias")},
                        {"head/weights", b.at("head/weights")}});
  std::string message = error_of([&] { two(a, renamed); });
  CHECK(contains(message, "[zip_map]"));
  CHECK(contains(message, "'dense/bias' vs 'dense/b'"));
  CHECK(contains(error_of([&] { three(a, b, renamed); }), "'dense/bias' vs 'dense/b'"));
  z::ParamTree shorter({{"dense/weights", b.at("dense/weights")}, {"dense/bias", b.at("dense/bias")}});
  CHECK(contains(error_of([&] { two(a, shorter); }), "3 leaves vs 2"));
}

// ==== 7. Bad input =============================================================================

TEST_CASE("bad input to grad and the losses gets a clear error") {
  SUBCASE("the gradient of a non-scalar function") {
    auto not_scalar = z::grad([](z::Tensor x) { return x * 2.0; });
    std::string message = error_of([&] { not_scalar(z::Array::ones({3})); });
    CHECK(contains(message, "must return a scalar"));
    CHECK(contains(message, "f32[3]"));
    auto inside = z::jit([](z::Params p) { return z::grad([](z::Params q) { return z::Tensor(q["w"]) * 2.0; })(p); });
    CHECK(contains(error_of([&] { inside(z::ParamTree({{"w", z::Array::ones({2})}})); }), "must return a scalar"));
    CHECK(contains(message, "training_test.cpp"));  // the line of the grad call
    auto integer = z::grad([](z::Tensor x) { return z::sum(z::cast(x, z::DType::i32)); });
    CHECK(contains(error_of([&] { integer(z::Array::ones({3})); }), "must return a float scalar"));
  }
  SUBCASE("the gradient with respect to an integer argument or leaf") {
    auto of_int = z::grad([](z::Tensor x) { return z::sum(z::cast(x, z::DType::f32)); });
    std::string message = error_of([&] { of_int(z::Array::zeros({3}, z::DType::i32)); });
    CHECK(contains(message, "[grad] argument 0 is i32[3]: only float values have gradients"));
    CHECK(contains(message, "training_test.cpp"));
    auto of_tree = z::grad([](z::Params p) { return z::sum(z::Tensor(p["w"])); });
    z::ParamTree tree({{"w", z::Array::ones({2})}, {"steps", z::Array::zeros({}, z::DType::i32)}});
    CHECK(contains(error_of([&] { of_tree(tree); }), "the i32[] leaf 'steps'"));
  }
  SUBCASE("softmax_cross_entropy with f32 labels or labels of the wrong shape") {
    auto loss = z::jit([](z::Tensor l, z::Tensor y) { return z::losses::softmax_cross_entropy(l, y); });
    std::string dtype = error_of([&] { loss(z::Array::ones({4, 3}), z::Array::zeros({4})); });
    CHECK(contains(dtype, "[softmax_cross_entropy]"));
    CHECK(contains(dtype, "labels must be i32"));
    CHECK(contains(dtype, "f32[4]"));
    CHECK(contains(dtype, "training_test.cpp"));  // points at the caller's line
    std::string shape = error_of([&] { loss(z::Array::ones({4, 3}), labels_of({0, 1, 2})); });
    CHECK(contains(shape, "labels [3] do not match logits [4, 3]"));
    CHECK(contains(shape, "expected labels of shape [4]"));
  }
  SUBCASE("mse and binary_cross_entropy with shapes that differ") {
    auto mse = z::jit([](z::Tensor a, z::Tensor b) { return z::losses::mse(a, b); });
    CHECK(contains(error_of([&] { mse(z::Array::ones({2, 3}), z::Array::ones({3})); }), "differ in shape"));
    auto bce = z::jit([](z::Tensor a, z::Tensor b) { return z::losses::binary_cross_entropy(a, b); });
    CHECK(contains(error_of([&] { bce(z::Array::ones({4}), z::Array::ones({4, 1})); }), "differ in shape"));
  }
  SUBCASE("check_labels names the first label outside [0, classes)") {
    CHECK_NOTHROW(z::losses::check_labels(labels_of({0, 9, 3}), 10));
    CHECK_THROWS_WITH(z::losses::check_labels(labels_of({0, 9, 10, 11}), 10),
                      doctest::Contains("label 10 at position 2 is outside [0, 10)"));
    CHECK_THROWS_WITH(z::losses::check_labels(labels_of({-1}), 10), doctest::Contains("label -1 at position 0"));
    CHECK_THROWS_WITH(z::losses::check_labels(z::Array::zeros({2}), 10), doctest::Contains("must be i32"));
  }
}

// ==== 8. A short training run ==================================================================

namespace {
z::Tensor classifier_loss(z::Params p, z::Tensor x, z::Tensor labels) {
  return z::losses::softmax_cross_entropy(z::nets::mlp(p, x, {8, 2}), labels);
}
}  // namespace

TEST_CASE("20 jitted Adam steps on separable 2-class data cut the loss by more than half") {
  // Points in [-1, 1]², labelled by the side of a line, pushed 0.5 away from it on their side.
  const int64_t n = 64;
  std::vector<float> points = random_array({n, 2}, 90, z::DType::f32).to_vector<float>();
  std::vector<int32_t> ids(n);
  const double nx = 1 / std::sqrt(5.0), ny = 2 / std::sqrt(5.0);  // unit normal of x + 2y = 0.3
  for (int64_t i = 0; i < n; ++i) {
    float& px = points[2 * i];
    float& py = points[2 * i + 1];
    ids[i] = px + 2 * py > 0.3 ? 1 : 0;
    double side = ids[i] ? 0.5 : -0.5;
    px += static_cast<float>(side * nx);
    py += static_cast<float>(side * ny);
  }
  z::Array x = z::Array::from<float>({n, 2}, points), labels = labels_of(ids);

  z::ParamTree params = z::trace(classifier_loss, z::random::key(4), x, labels);
  auto opt = z::optim::adam(0.05);
  z::ParamTree state = opt.init(params);
  auto step = z::jit([opt](z::Params p, z::OptState s, z::Tensor xs, z::Tensor ys) {
    auto [loss, grads] = z::value_and_grad(classifier_loss)(p, xs, ys);
    auto [p2, s2] = opt.update(grads, s, p);
    return std::tuple{loss, p2, s2};
  });

  std::vector<double> losses;
  for (int i = 0; i < 20; ++i) {
    z::Array loss;
    std::tie(loss, params, state) = step(params, state, x, labels);
    losses.push_back(loss.at(0));
  }
  INFO("losses: ", fmt::format("{:.3f}", fmt::join(losses, ", ")));
  for (double l : losses) REQUIRE(std::isfinite(l));
  CHECK(losses.back() < losses.front() / 2);
  int rises = 0;
  for (size_t i = 1; i < losses.size(); ++i) rises += losses[i] > losses[i - 1];
  CHECK(rises <= 3);
  CHECK(state.at("step").at(0) == 20);

  // The trained classifier, evaluated by hand, separates the data.
  Matrix logits = mlp_forward(params, x, 2).pre.back();
  std::vector<int32_t> predicted = argmax_reference(logits, 1);
  int correct = 0;
  for (int64_t i = 0; i < n; ++i) correct += predicted[i] == ids[i];
  CHECK(correct >= 0.95 * n);
}

// ==== Regressions: problems these tests found, now fixed ======================================

// One graph value in two result positions (directly, or after CSE merges two identical
// computations, or as the equal gradients of two parameters) used to crash the compiler.
TEST_CASE("a jitted function may return the same value twice") {
  z::Array x = z::Array::ones({3});
  SUBCASE("the same Tensor twice") {
    auto [a, b] = z::jit([](z::Tensor v) {
      z::Tensor y = z::sum(v * 2.0);
      return std::tuple{y, y};
    })(x);
    CHECK(a.at(0) == 6);
    CHECK(b.at(0) == 6);
  }
  SUBCASE("two identical computations") {
    auto [a, b] = z::jit([](z::Tensor v) { return std::tuple{v * 2.0, v * 2.0}; })(x);
    CHECK(values_of(a) == std::vector<double>(3, 2.0));
    CHECK(values_of(b) == std::vector<double>(3, 2.0));
  }
  SUBCASE("an argument twice") {
    auto [a, b] = z::jit([](z::Tensor v) { return std::tuple{v, v}; })(x);
    CHECK(values_of(a) == std::vector<double>(3, 1.0));
    CHECK(values_of(b) == std::vector<double>(3, 1.0));
  }
  SUBCASE("the gradients of two biases added the same way") {
    auto f = [](z::Params p, z::Tensor v) { return z::sum(z::tanh(v + p["a"] + p["b"])); };
    z::ParamTree params({{"a", random_array({3}, 1)}, {"b", random_array({3}, 2)}});
    z::Array in = random_array({5, 3}, 3);
    z::ParamTree g = z::grad(f)(params, in);
    std::vector<double> expected(3, 0.0);  // Σ_rows 1 - tanh²(x + a + b), for both
    for (int64_t i = 0; i < 5; ++i)
      for (int64_t j = 0; j < 3; ++j) {
        double t = std::tanh(in.at(i * 3 + j) + params.at("a").at(j) + params.at("b").at(j));
        expected[j] += 1 - t * t;
      }
    check_close(g.at("a"), expected, f64_tol);
    check_close(g.at("b"), expected, f64_tol);
  }
}

// Labels outside [0, classes) are a run-time check: the jit call throws after it ran, naming
// the loss's call site and how many labels were bad; in-range calls are unaffected.
TEST_CASE("softmax_cross_entropy: out-of-range labels are a clear error at run time") {
  z::Array logits = random_array({2, 3}, 5);
  int line = __LINE__ + 1;
  auto loss = z::jit([](z::Tensor l, z::Tensor y) { return z::losses::softmax_cross_entropy(l, y); });
  std::string message = error_of([&] { loss(logits, labels_of({3, -1})); });
  CHECK(contains(message, "labels outside [0, 3) (2 of 2 elements)"));
  CHECK(contains(message, "training_test.cpp:" + std::to_string(line)));
  CHECK(contains(error_of([&] { loss(logits, labels_of({1, 7})); }), "(1 of 2 elements)"));
  double row0 = 0, row1 = 0;  // the same compiled function, valid labels: the plain value
  for (int64_t j = 0; j < 3; ++j) row0 += std::exp(logits.at(j)), row1 += std::exp(logits.at(3 + j));
  double expected = (std::log(row0) - logits.at(1) + std::log(row1) - logits.at(5)) / 2;
  check_close(loss(logits, labels_of({1, 2})).at(0), expected, f64_tol, "loss");
  // The gradient path checks too.
  auto g = z::grad<0>([](z::Tensor l, z::Tensor y) { return z::losses::softmax_cross_entropy(l, y); });
  CHECK(contains(error_of([&] { g(logits, labels_of({0, 3})); }), "labels outside [0, 3)"));
}

// f64 params get f64 learning rates and bias corrections (they used to be f32 scalars).
TEST_CASE("optimizers on f64 params compute in f64") {
  check_optimizer(z::optim::sgd(0.1), {}, z::DType::f64);
  check_optimizer(z::optim::adam(0.1), {.kind = ReferenceOptimizer::Kind::adam}, z::DType::f64);
}

// Updates must have their parameter's shape: broadcasting would silently reshape it.
TEST_CASE("apply_updates rejects an update of another shape") {
  z::ParamTree params({{"w", z::Array::ones({3})}}), updates({{"w", z::Array::ones({2, 3})}});
  auto apply = z::jit([](z::Params p, z::Params u) { return z::optim::apply_updates(p, u); });
  std::string message = error_of([&] { apply(params, updates); });
  CHECK(contains(message, "'w'"));
  CHECK(contains(message, "[3]"));
  CHECK(contains(message, "[2, 3]"));
}
