// Bad input gets a clear error that names the parameter path, both shapes and the user's line.
#include <doctest/doctest.h>

#include "test_support.h"
#include <zephyr/zephyr.h>

namespace z = zephyr;

namespace {

using zephyr::testing::contains;
using zephyr::testing::error_of;

z::Tensor dense(z::Params p, z::Tensor x, int out) {
  p["weights"] == z::array({x.shape(-1), out});
  return z::matmul(x, p["weights"]);
}

}  // namespace

TEST_CASE("a parameter declared twice with different shapes names the path and both shapes") {
  auto model = [](z::Params p, z::Tensor x) {
    p["w"] == z::array({x.shape(-1), 4});
    p["w"] == z::array({x.shape(-1), 5});
    return x;
  };
  std::string message = error_of([&] { z::trace(model, z::random::key(0), z::Array::ones({2, 3})); });
  CHECK(contains(message, "'w'"));
  CHECK(contains(message, "f32[3, 4]"));
  CHECK(contains(message, "f32[3, 5]"));
  CHECK(contains(message, "errors_test.cpp"));
}

TEST_CASE("the same template declared twice is fine") {
  auto model = [](z::Params p, z::Tensor x) {
    p["w"] == z::array({x.shape(-1), 4});
    p["w"] == z::array({x.shape(-1), 4});
    return z::matmul(x, p["w"]);
  };
  CHECK(z::trace(model, z::random::key(0), z::Array::ones({2, 3})).size() == 1);
}

TEST_CASE("a parameter used before any template names the path and the user's line") {
  int line = 0;
  auto model = [&](z::Params p, z::Tensor x) {
    line = __LINE__ + 1;
    return z::matmul(x, p["layer"]["weights"]);
  };
  std::string message = error_of([&] { z::trace(model, z::random::key(0), z::Array::ones({2, 3})); });
  CHECK(contains(message, "'layer/weights' is used before any template declares it"));
  CHECK(contains(message, "errors_test.cpp:" + std::to_string(line)));
}

TEST_CASE("under jit, a missing leaf names its path and the declared shape") {
  z::ParamTree params = z::trace(dense, z::random::key(0), z::Array::ones({2, 3}), 4);
  z::ParamTree empty_tree;
  std::string message = error_of([&] { z::jit(dense)(empty_tree, z::Array::ones({2, 3}), 4); });
  CHECK(contains(message, "'weights' is missing"));
  CHECK(contains(message, "f32[3, 4]"));
}

TEST_CASE("under jit, a leaf that no longer fits the inputs names the path and both shapes") {
  // Traced for 64 features, called with 32.
  z::ParamTree params = z::trace(dense, z::random::key(0), z::Array::ones({2, 64}), 8);
  std::string message = error_of([&] { z::jit(dense)(params, z::Array::ones({2, 32}), 8); });
  CHECK(contains(message, "'weights'"));
  CHECK(contains(message, "f32[64, 8]"));
  CHECK(contains(message, "f32[32, 8]"));
  CHECK(contains(message, "argument 1: f32[2, 32]"));  // the call's arguments are named
}

TEST_CASE("an argument of the wrong rank or dtype is named in the error") {
  z::ParamTree params = z::trace(dense, z::random::key(0), z::Array::ones({2, 3}), 4);
  std::string rank = error_of([&] { z::jit(dense)(params, z::Array::ones({}), 4); });
  CHECK(contains(rank, "axis -1 is out of range for rank 0"));
  CHECK(contains(rank, "argument 1: f32[]"));
  std::string dtype = error_of([&] { z::jit(dense)(params, z::Array::ones({2, 3}, z::DType::i32), 4); });
  CHECK(contains(dtype, "argument 1: i32[2, 3]"));
  CHECK(contains(dtype, "i32"));
}

TEST_CASE("an op with incompatible shapes names the op, both shapes and the user's file:line") {
  int line = 0;
  auto model = [&](z::Tensor a, z::Tensor b) {
    line = __LINE__ + 1;
    return a + b;
  };
  std::string message = error_of([&] { z::jit(model)(z::Array::ones({2, 3}), z::Array::ones({4})); });
  CHECK(contains(message, "[add]"));
  CHECK(contains(message, "[2, 3]"));
  CHECK(contains(message, "[4]"));
  CHECK(contains(message, "errors_test.cpp:" + std::to_string(line)));

  auto product = [&](z::Tensor a, z::Tensor b) {
    line = __LINE__ + 1;
    return z::matmul(a, b);
  };
  message = error_of([&] { z::jit(product)(z::Array::ones({8, 64}), z::Array::ones({32, 5})); });
  CHECK(contains(message, "[matmul]"));
  CHECK(contains(message, "[8, 64]"));
  CHECK(contains(message, "[32, 5]"));
  CHECK(contains(message, "errors_test.cpp:" + std::to_string(line)));
}

TEST_CASE("other shape errors are reported, never crash") {
  auto bad_reshape = [](z::Tensor a) { return z::reshape(a, {5, -1}); };
  CHECK(contains(error_of([&] { z::jit(bad_reshape)(z::Array::ones({2, 3})); }), "[reshape] cannot reshape [2, 3]"));
  auto bad_axis = [](z::Tensor a) { return z::sum(a, {2}); };
  CHECK(contains(error_of([&] { z::jit(bad_axis)(z::Array::ones({2, 3})); }), "axis 2 is out of range for rank 2"));
  auto bad_dtype = [](z::Tensor a, z::Tensor b) { return a * b; };
  const std::string dtypes = error_of([&] { z::jit(bad_dtype)(z::Array::ones({2}), z::Array::ones({2}, z::DType::i32)); });
  CHECK(contains(dtypes, "operand dtypes differ: f32[2] ("));  // each operand also named (an argument here)
  CHECK(contains(dtypes, "and i32[2] ("));
  CHECK(contains(error_of([] { z::ParamTree().at("x/y"); }), "no leaf at 'x/y'"));
  CHECK(contains(error_of([] { z::Array::ones({2}).data<int32_t>(); }), "i32 requested from a f32 array"));
}

TEST_CASE("ParamTree lookups of a missing entry point at the user's line and list what is there") {
  const z::ParamTree tree({{"l1/weights", z::Array::ones({2})}, {"l2/weights", z::Array::ones({2})}});
  const int line = __LINE__ + 1;
  const std::string missing = error_of([&] { (void)tree["l3"]; });
  CHECK(contains(missing, "errors_test.cpp:" + std::to_string(line)));
  CHECK(contains(missing, "[ParamTree] no entry 'l3' (entries here: l1, l2)"));
  const int index_line = __LINE__ + 1;
  const std::string index = error_of([&] { (void)tree["l1"][0]; });
  CHECK(contains(index, "errors_test.cpp:" + std::to_string(index_line)));
  CHECK(contains(index, "no entry '0'"));
  const int at_line = __LINE__ + 1;
  CHECK(contains(error_of([&] { (void)tree.at("l1/bias"); }), "errors_test.cpp:" + std::to_string(at_line)));
  CHECK(tree["l2"]["weights"].array().size() == 2);  // found entries are unaffected
}

TEST_CASE("axis errors name the op the user called and point at the user's line") {
  struct Case {
    const char* op;
    std::function<z::Tensor(z::Tensor)> f;
  };
  const std::vector<Case> cases = {
      {"[reduce_sum]", [](z::Tensor x) { return z::sum(x, {2}); }},
      {"[mean]", [](z::Tensor x) { return z::mean(x, {-3}); }},
      {"[expand_dims]", [](z::Tensor x) { return z::expand_dims(x, 4); }},
      {"[slice]", [](z::Tensor x) { return z::slice(x, 5, 0, 1); }},
      {"[softmax]", [](z::Tensor x) { return z::softmax(x, -3); }},
      {"[log_softmax]", [](z::Tensor x) { return z::log_softmax(x, 2); }},
      {"[transpose]", [](z::Tensor x) { return z::transpose(x, {0, 7}); }},
  };
  for (const Case& c : cases) {
    std::string message = error_of([&] { z::jit(c.f)(z::Array::ones({2, 3})); });
    INFO(message);
    CHECK(contains(message, c.op));
    CHECK(contains(message, "out of range for rank"));
    CHECK(contains(message, "errors_test.cpp:"));
  }
}

TEST_CASE("shape errors on parameters name the parameter's path") {
  z::ParamTree params = z::trace(dense, z::random::key(0), z::Array::ones({2, 3}), 4);
  auto wrong_input = [](z::Params p, z::Tensor x) { return z::matmul(x, p["weights"]); };
  std::string message = error_of([&] { z::jit(wrong_input)(params, z::Array::ones({2, 5})); });
  CHECK(contains(message, "[matmul]"));
  CHECK(contains(message, "f32[3, 4] ('weights')"));
  auto bad_add = [](z::Params p, z::Tensor x) { return z::add(x, p["weights"]); };
  message = error_of([&] { z::jit(bad_add)(params, z::Array::ones({2, 5})); });
  CHECK(contains(message, "[add]"));
  CHECK(contains(message, "f32[3, 4] ('weights') do not broadcast"));
}
