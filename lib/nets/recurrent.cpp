#include "zephyr/nets/recurrent.h"

#include <fmt/format.h>

#include "zephyr/ops.h"
#include "zephyr/control_flow.h"

namespace zephyr::nets {
namespace {

void expect_sequence(const Tensor& xs, const char* layer, const SourceLoc& where) {
  if (xs.shape().size() != 3)
    fail_at(where, layer, fmt::format("takes a sequence [T, batch, features], got {}", describe(xs.dtype(), xs.shape())));
}

// Gate k of `gates` [..., n·hidden].
Tensor gate(const Tensor& gates, int64_t k, int64_t hidden, Loc loc) {
  return slice(gates, -1, k * hidden, (k + 1) * hidden, 1, loc);
}

}  // namespace

Tensor lstm(Params p, Tensor xs, int64_t hidden, const Initializer& initializer, Loc loc) {
  expect_sequence(xs, "lstm", SourceLoc::from(loc));
  const int64_t features = xs.shape(-1), batch = xs.shape(1);
  Params linear = p["linear"];
  linear["weights"] == array({features + hidden, 4 * hidden}, initializer, xs.dtype(), loc);
  linear["bias"] == array({4 * hidden}, init::zeros, xs.dtype(), loc);
  const Tensor w = linear["weights"].tensor(loc);
  const Tensor w_x = slice(w, 0, 0, features, 1, loc), w_h = slice(w, 0, features, features + hidden, 1, loc);
  const Tensor from_x = add(matmul(xs, w_x, loc), linear["bias"].tensor(loc), loc);  // [T, batch, 4·hidden]
  const Tensor zero = full({batch, hidden}, 0.0, xs.dtype(), loc);
  return scan([&](const std::vector<Tensor>& state, const Tensor& x_gates) {
    const Tensor gates = add(x_gates, matmul(state[0], w_h, loc), loc);
    const Tensor i = sigmoid(gate(gates, 0, hidden, loc), loc), g = tanh(gate(gates, 1, hidden, loc), loc);
    const Tensor f = sigmoid(add(gate(gates, 2, hidden, loc), scalar(1.0, xs.dtype(), loc), loc), loc);
    const Tensor o = sigmoid(gate(gates, 3, hidden, loc), loc);
    const Tensor c = add(mul(f, state[1], loc), mul(i, g, loc), loc);
    const Tensor h = mul(o, tanh(c, loc), loc);
    return std::pair{std::vector<Tensor>{h, c}, h};
  }, std::vector<Tensor>{zero, zero}, from_x, {}, loc).second;
}

Tensor gru(Params p, Tensor xs, int64_t hidden, const Initializer& initializer, Loc loc) {
  expect_sequence(xs, "gru", SourceLoc::from(loc));
  const int64_t features = xs.shape(-1), batch = xs.shape(1);
  p["w_i"] == array({features, 3 * hidden}, initializer, xs.dtype(), loc);
  p["w_h"] == array({hidden, 3 * hidden}, initializer, xs.dtype(), loc);
  p["b"] == array({3 * hidden}, init::zeros, xs.dtype(), loc);
  const Tensor w_h = p["w_h"].tensor(loc);
  const Tensor from_x = add(matmul(xs, p["w_i"].tensor(loc), loc), p["b"].tensor(loc), loc);  // [T, batch, 3·hidden]
  return scan([&](const Tensor& h, const Tensor& x_gates) {
    const Tensor from_h = matmul(h, w_h, loc);
    const Tensor z = sigmoid(add(gate(x_gates, 0, hidden, loc), gate(from_h, 0, hidden, loc), loc), loc);
    const Tensor r = sigmoid(add(gate(x_gates, 1, hidden, loc), gate(from_h, 1, hidden, loc), loc), loc);
    const Tensor a = tanh(add(gate(x_gates, 2, hidden, loc), mul(r, gate(from_h, 2, hidden, loc), loc), loc), loc);
    const Tensor next = add(h, mul(z, sub(a, h, loc), loc), loc);  // (1 - z)·h + z·a
    return std::pair{next, next};
  }, full({batch, hidden}, 0.0, xs.dtype(), loc), from_x, {}, loc).second;
}

}  // namespace zephyr::nets
