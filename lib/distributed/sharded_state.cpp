// An optimizer's state in the two layouts of ZeRO stage 1: whole (every slot, "mu/<param path>",
// beside the params it belongs to: what checkpoints hold) and sliced (each slot as this rank's
// slice of the params laid end to end, "mu/slice": what a rank keeps and updates).
#include <algorithm>
#include <string>
#include <vector>

#include "zephyr/distributed.h"

namespace zephyr::distributed {
namespace {

constexpr const char* kSlice = "slice";

// The slot of a state leaf: "mu" for "mu/0/weights" when "0/weights" is a param path and the
// state holds "mu/<p>" for every param p. Empty for a leaf of no slot (a step count).
std::string slot_of(const std::string& path, const ParamTree& state, const ParamTree& params) {
  for (const auto& [p, a] : params) {
    if (path.size() <= p.size() + 1 || path.compare(path.size() - p.size(), p.size(), p) != 0 ||
        path[path.size() - p.size() - 1] != '/')
      continue;
    const std::string slot = path.substr(0, path.size() - p.size() - 1);
    bool whole = true;
    for (const auto& [q, b] : params) {
      const std::string leaf = slot + "/" + q;
      whole = whole && state.contains(leaf) && state.at(leaf).shape() == b.shape();
    }
    if (whole) return slot;
  }
  return {};
}

}  // namespace

ParamTree slice_state(const ParamTree& state, const ParamTree& params) {
  std::vector<ParamTree::Leaf> leaves;
  std::vector<std::string> done;
  for (const auto& [path, a] : state) {
    const std::string slot = slot_of(path, state, params);
    if (slot.empty()) {
      leaves.push_back({path, a});
      continue;
    }
    if (std::find(done.begin(), done.end(), slot) != done.end()) continue;
    done.push_back(slot);
    std::vector<ParamTree::Leaf> whole;
    for (const auto& [p, b] : params) whole.push_back({p, state.at(slot + "/" + p)});
    leaves.push_back({slot + "/" + kSlice, local_slice(ParamTree(std::move(whole)))});
  }
  return ParamTree(std::move(leaves));
}

ParamTree gather_state(const ParamTree& sliced, const ParamTree& params) {
  const int64_t slice_size = local_slice(params).size();
  const std::string suffix = std::string("/") + kSlice;
  std::vector<ParamTree::Leaf> leaves;
  for (const auto& [path, a] : sliced) {
    const bool slot = (path == kSlice || path.ends_with(suffix)) && a.shape() == Shape{slice_size};
    if (!slot) {
      leaves.push_back({path, a});
      continue;
    }
    const std::string prefix = path.substr(0, path.size() - std::string(kSlice).size());  // "mu/"
    ParamTree whole = params;
    allgather_slices(a, whole);
    for (const auto& [p, b] : whole) leaves.push_back({prefix + p, b});
  }
  return ParamTree(std::move(leaves));
}

}  // namespace zephyr::distributed
