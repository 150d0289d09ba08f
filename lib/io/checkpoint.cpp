// Training checkpoints: params and optimizer state side by side in one safetensors file.
#include "zephyr/io/safetensors.h"

namespace zephyr::io {
namespace {

ParamTree combined(const ParamTree& params, const ParamTree& state) {
  std::vector<ParamTree::Leaf> leaves;
  for (const auto& [path, a] : params) leaves.push_back({join_path("params", path), a});
  for (const auto& [path, a] : state) leaves.push_back({join_path("opt", path), a});
  return ParamTree(std::move(leaves));
}

}  // namespace

void save_checkpoint(const std::string& path, const Checkpoint& checkpoint) {
  save(path, combined(checkpoint.params, checkpoint.state), checkpoint.metadata);
}

Checkpoint load_checkpoint(const std::string& path, const ParamTree& params_like, const ParamTree& state_like) {
  ParamTree loaded = load(path, combined(params_like, state_like));
  Checkpoint out;
  out.params = params_like.empty() ? ParamTree() : loaded["params"];
  out.state = state_like.empty() ? ParamTree() : loaded["opt"];
  out.metadata = load_safetensors_metadata(path);
  return out;
}

}  // namespace zephyr::io
