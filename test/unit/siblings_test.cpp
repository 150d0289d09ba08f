// Siblings (lib/compiler/partition.h): an elementwise value read only inside one elementwise
// kernel of its shape is computed in that kernel, as one more output if it is a result. White-box
// on the schedule's calls, and the compiled results against the reference interpreter.
#include <doctest/doctest.h>
#include <zephyr/zephyr.h>

#include <string>

#include "../../lib/compiler/partition.h"
#include "reference.h"

namespace z = zephyr;
using z::testing::random_array;

namespace {

// The number of outputs of each call, in schedule order.
std::vector<size_t> outputs_per_call(const z::compiler::Schedule& s) {
  std::vector<size_t> out;
  for (const z::compiler::KernelCall& call : s.calls) out.push_back(call.outputs.size());
  return out;
}

void check_close(const z::Array& got, const z::Array& want, const std::string& what) {
  INFO(what);
  REQUIRE(got.shape() == want.shape());
  const float* g = got.data<float>();
  const float* w = want.data<float>();
  for (int64_t i = 0; i < got.size(); ++i) REQUIRE(g[i] == doctest::Approx(w[i]).epsilon(1e-6));
}

}  // namespace

TEST_CASE("siblings: Adam's new moments are written by the call that updates the parameter") {
  // One leaf of Adam by hand: m and v are results, and the update reads them.
  auto adam_leaf = [](z::Tensor p, z::Tensor g, z::Tensor m, z::Tensor v) {
    z::Tensor m2 = 0.9 * m + 0.1 * g;
    z::Tensor v2 = 0.999 * v + 0.001 * g * g;
    z::Tensor p2 = p - 1e-3 * (m2 / 0.1) / (z::sqrt(v2 / 0.001) + 1e-8);
    return std::tuple{p2, m2, v2};
  };
  const std::vector<z::Array> args = {random_array({37, 53}, 1), random_array({37, 53}, 2), random_array({37, 53}, 3),
                                      random_array({37, 53}, 4, z::DType::f32, 0.1, 1.0)};
  const z::Function fn = z::make_function(adam_leaf, args[0], args[1], args[2], args[3]);
  const z::compiler::Schedule s = z::compiler::partition(fn);
  REQUIRE(s.calls.size() == 1);
  CHECK(s.calls[0].outputs.size() == 3);
  CHECK(s.kernels[0].results.size() == 3);

  const std::vector<z::Array> want = z::interpret(fn, args);
  for (int n : {1, 2}) {
    auto [p2, m2, v2] = z::jit(adam_leaf, z::testing::on_threads(n))(args[0], args[1], args[2], args[3]);
    check_close(p2, want[0], "p");
    check_close(m2, want[1], "m");
    check_close(v2, want[2], "v");
  }
}

TEST_CASE("siblings: a value read twice in one kernel is computed there, not stored") {
  auto f = [](z::Tensor a, z::Tensor b) {
    z::Tensor t = z::exp(a) * b;  // two uses, both in the one kernel below
    return (t + 1.0) * t;
  };
  const z::Array a = random_array({19, 7}, 5), b = random_array({19, 7}, 6);
  const z::Function fn = z::make_function(f, a, b);
  CHECK(outputs_per_call(z::compiler::partition(fn)) == std::vector<size_t>{1});
  check_close(z::jit(f)(a, b), z::interpret(fn, std::vector<z::Array>{a, b}).at(0), "(t + 1) * t");
}

TEST_CASE("siblings: a value read by two kernels, or by a reduction, or in another shape, keeps its own call") {
  auto f = [](z::Tensor a, z::Tensor b, z::Tensor row) {
    z::Tensor t = z::exp(a) * b;
    z::Tensor total = z::sum(t);         // a reduction reads t
    z::Tensor wide = t + row * t;        // elementwise, same shape: but t is also read by `total`
    z::Tensor u = z::tanh(row) * 2.0;    // row's shape, read by a kernel of another shape
    return std::tuple{wide, total, u + 1.0, z::broadcast_to(u, {19, 7}) * a};
  };
  const z::Array a = random_array({19, 7}, 7), b = random_array({19, 7}, 8), row = random_array({7}, 9);
  const z::Function fn = z::make_function(f, a, b, row);
  const z::compiler::Schedule s = z::compiler::partition(fn);
  for (const z::compiler::KernelCall& call : s.calls) CHECK(call.outputs.size() == 1);
  CHECK(s.calls.size() == 6);  // t, total, wide, u, u + 1 and the broadcast product
  const std::vector<z::Array> want = z::interpret(fn, std::vector<z::Array>{a, b, row});
  auto [wide, total, u1, prod] = z::jit(f)(a, b, row);
  check_close(wide, want[0], "wide");
  check_close(total, want[1], "total");
  check_close(u1, want[2], "u + 1");
  check_close(prod, want[3], "broadcast product");
}
