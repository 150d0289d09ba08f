// A program that links zephyr::core alone: no compiler, no MLIR or LLVM headers or libraries.
// It traces an MLP, differentiates it and trains it for 30 SGD steps in the reference
// interpreter, and checks one gradient entry against a central finite difference.
#include <zephyr/zephyr.h>

#include <cmath>
#include <cstdio>

#if __has_include(<mlir/IR/MLIRContext.h>)
#error "zephyr::core must not put MLIR on the include path"
#endif

namespace z = zephyr;

namespace {

z::Tensor loss(z::Params p, z::Tensor x, z::Tensor y) {
  return z::losses::softmax_cross_entropy(z::nets::mlp(p, x, {16, 2}), y);
}

int failures = 0;
void check(bool ok, const char* what, double got, double want) {
  std::printf("%s %s: %g (want %g)\n", ok ? "ok  " : "FAIL", what, got, want);
  failures += !ok;
}

}  // namespace

int main() {
  // Two classes: the sign of the first feature.
  const z::Array x = z::random::uniform(z::random::key(1), {32, 4}, z::DType::f32, -1, 1);
  std::vector<int32_t> labels(32);
  for (int i = 0; i < 32; ++i) labels[i] = x.at(i * 4) > 0;
  const z::Array y = z::Array::from<int32_t>({32}, labels);

  z::ParamTree params = z::trace(loss, z::random::key(2), x, y);
  const z::optim::Optimizer sgd = z::optim::sgd(0.5);
  z::ParamTree state = sgd.init(params);
  auto step = z::interpret([sgd](z::Params p, z::OptState s, z::Tensor x, z::Tensor y) {
    auto [value, grads] = z::value_and_grad(loss)(p, x, y);
    auto [q, s2] = sgd.update(grads, s, p);
    return std::tuple{q, s2, value};
  });

  // d loss / d w[0][0] against (loss(w + h) - loss(w - h)) / 2h, evaluated in f64.
  auto gradient = z::interpret([](z::Params p, z::Tensor x, z::Tensor y) { return z::grad(loss)(p, x, y); });
  const std::string w = "0/weights";
  const double analytic = gradient(params, x, y).at(w).at(0);
  auto loss_at = [&](double delta) {
    z::ParamTree moved = params;
    z::Array weights = moved.at(w).astype(z::DType::f32);
    weights.data<float>()[0] += static_cast<float>(delta);
    moved.set(w, weights);
    return z::interpret(loss, {.f64 = true})(moved, x, y).at(0);
  };
  const double h = 1e-2, numeric = (loss_at(h) - loss_at(-h)) / (2 * h);
  check(std::abs(analytic - numeric) <= 1e-3 * std::max(1.0, std::abs(numeric)), "gradient vs finite difference",
        analytic, numeric);

  double first = 0, last = 0;
  for (int i = 0; i < 30; ++i) {
    auto [p2, s2, value] = step(params, state, x, y);
    params = p2;
    state = s2;
    (i == 0 ? first : last) = value.at(0);
  }
  check(last < 0.5 * first, "loss after 30 steps below half the first", last, 0.5 * first);
  std::printf("%d passed, %d failed\n", 2 - failures, failures);
  return failures == 0 ? 0 : 1;
}
