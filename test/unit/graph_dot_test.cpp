// z::graph_dot: every node and edge of the graph once, parameters in clusters by path, the
// user's file:line on each op, control-flow bodies as clusters of their own.
#include <doctest/doctest.h>
#include <zephyr/zephyr.h>

#include <algorithm>
#include <regex>

#include "test_support.h"

namespace z = zephyr;
using z::testing::contains;

namespace {

z::Tensor encoder(z::Params p, z::Tensor x) {
  x = z::nets::mlp(p["encoder"]["mlp_1"], x, {8, 8});
  return z::nets::linear(p["head"], x, 3);
}

size_t count(const std::string& text, const std::string& pattern) {
  std::regex re(pattern);
  return static_cast<size_t>(std::distance(std::sregex_iterator(text.begin(), text.end(), re), std::sregex_iterator()));
}

}  // namespace

TEST_CASE("graph_dot: one box per op, one edge per operand, parameters clustered by path") {
  z::Array x = z::Array::zeros({2, 5});
  z::ParamTree params = z::trace(encoder, z::random::key(0), x);
  z::Function fn = z::make_function(encoder, params, x);
  const std::string dot = z::graph_dot(fn);

  size_t ops = 0, operands = 0;
  for (const z::Node* n : z::topological_order(fn.results)) {
    if (n->op == z::OpKind::Argument) continue;
    ++ops;
    operands += n->inputs.size();
  }
  CHECK(count(dot, R"(\n  n\d+ \[label=)") == ops);
  CHECK(count(dot, R"( -> n\d+;)") == operands);
  CHECK(count(dot, R"(\ba\d+ \[shape=ellipse)") == fn.arguments.size());
  CHECK(count(dot, R"(\br\d+ \[shape=plaintext)") == fn.results.size());
  CHECK(std::count(dot.begin(), dot.end(), '{') == std::count(dot.begin(), dot.end(), '}'));
  // encoder > mlp_1 > 0 holds 0's weights; head holds the linear's.
  CHECK(contains(dot, "label=\"encoder\""));
  CHECK(contains(dot, "label=\"mlp_1\""));
  CHECK(contains(dot, "label=\"head\""));
  CHECK(contains(dot, "label=\"weights\\nf32[5, 8]\", tooltip=\"encoder/mlp_1/0/weights\""));
  // Each op names its shape and the line of the model that built it.
  CHECK(count(dot, R"(label="matmul\\nf32\[2, 8\]\\ngraph_dot_test\.cpp:\d+")") >= 1);
}

TEST_CASE("graph_dot: a scan's body is a cluster under its node; names are escaped") {
  z::Array h0 = z::Array::zeros({3}), xs = z::Array::zeros({4, 3});
  z::Function fn = z::make_function(
      [](z::Tensor h, z::Tensor x) {
        return z::scan([](z::Tensor c, z::Tensor step) { return std::pair{z::tanh(c + step), c}; }, h, x).first;
      },
      h0, xs);
  fn = z::rename_arguments(fn, {{fn.arguments[0]->attrs.name, "say \"hi\""}});
  const std::string dot = z::graph_dot(fn);
  CHECK(contains(dot, "label=\"body of scan\""));
  CHECK(contains(dot, "tanh\\nf32[3]\\ngraph_dot_test.cpp:"));
  CHECK(contains(dot, "tooltip=\"say \\\"hi\\\"\""));
  CHECK(count(dot, R"(n\d+_r0 -> n\d+ \[style=dashed\])") == 1);  // the body's result feeds its node
}
