#include "weights.h"

#include <fmt/format.h>
#include <zephyr/io/safetensors.h>

#include <algorithm>

namespace zephyr::cli {

ParamTree load_weights(const std::string& path, const ParamTree& like) {
  io::NamedArrays file = io::load_safetensors(path);
  bool checkpoint = std::any_of(file.begin(), file.end(), [](const auto& t) { return t.first.starts_with("params/"); });
  if (!checkpoint) return io::load(path, like);
  std::vector<std::string> problems;
  std::vector<ParamTree::Leaf> leaves;
  for (const auto& [path_in_model, expected] : like) {
    auto it = std::find_if(file.begin(), file.end(), [&](const auto& t) { return t.first == "params/" + path_in_model; });
    if (it == file.end()) problems.push_back(fmt::format("'{}' is missing", path_in_model));
    else if (it->second.shape() != expected.shape() || it->second.dtype() != expected.dtype())
      problems.push_back(fmt::format("'{}': the model has {}, the file {}", path_in_model,
                                     describe(expected.dtype(), expected.shape()),
                                     describe(it->second.dtype(), it->second.shape())));
    else leaves.push_back({path_in_model, it->second});
  }
  if (!problems.empty())
    throw Error(fmt::format("{} does not fit the model: {}", path, fmt::join(problems, "; ")));
  return ParamTree(std::move(leaves));
}


}  // namespace zephyr::cli
