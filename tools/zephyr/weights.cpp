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
  if (problems.empty()) return ParamTree(std::move(leaves));
  // What the file holds, so that a checkpoint of another model (or another --input-shape) is
  // recognized at a glance; long lists are cut.
  constexpr size_t kListed = 24;
  std::vector<std::string> held;
  for (const auto& [name, array] : file)
    if (held.size() < kListed) held.push_back(fmt::format("{} {}", name, describe(array.dtype(), array.shape())));
  const std::string more = file.size() > kListed ? fmt::format(", and {} more", file.size() - kListed) : "";
  throw Error(fmt::format("{} does not fit the model: {}. The file holds {} tensors: {}{}", path,
                          fmt::join(problems, "; "), file.size(), fmt::join(held, ", "), more));
}


}  // namespace zephyr::cli
