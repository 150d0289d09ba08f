// The models the `zephyr` tool knows: how to trace each, and how to build its graph.
#pragma once

#include <zephyr/zephyr.h>

#include <functional>
#include <string>
#include <vector>

namespace zephyr::cli {

struct Model {
  std::string name;
  std::string signature;  // the example call, for `zephyr models`
  std::function<ParamTree(random::Key)> trace;
  std::function<Function(const ParamTree&)> graph;
};

/// Built-in models, in display order.
const std::vector<Model>& models();
/// The model called `name`; throws listing the known names.
const Model& find_model(const std::string& name);

}  // namespace zephyr::cli
