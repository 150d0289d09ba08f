// TensorTree: the symbolic counterpart of ParamTree (gradients, optimizer states inside jit).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "zephyr/param_tree.h"
#include "zephyr/tensor.h"

namespace zephyr {

/// Named, ordered Tensors with '/'-joined paths. jit returns it as a ParamTree.
class TensorTree {
 public:
  /// A path and its tensor.
  using Leaf = std::pair<std::string, Tensor>;

  TensorTree() = default;
  /// A tree of these leaves, in this order.
  explicit TensorTree(std::vector<Leaf> leaves) : leaves_(std::move(leaves)) {}
  /// The leaves of `p` under its path, as used by the model (every leaf of the bound tree under jit).
  TensorTree(const Params& p);  // NOLINT: a Params reads as its tree

  /// (path, tensor) for every leaf, in order.
  const std::vector<Leaf>& leaves() const { return leaves_; }
  /// Iterates over leaves().
  auto begin() const { return leaves_.begin(); }
  /// End of leaves().
  auto end() const { return leaves_.end(); }
  /// Number of leaves.
  size_t size() const { return leaves_.size(); }
  /// The leaf at a path; throws naming the path.
  const Tensor& at(std::string_view path) const;
  /// The sub-tree under `key`.
  TensorTree operator[](std::string_view key) const;

 private:
  std::vector<Leaf> leaves_;
};

/// f(leaf) for every leaf, same paths.
TensorTree map(const TensorTree& tree, const std::function<Tensor(const Tensor&)>& f);
/// f(path, leaf): per-leaf decisions by name (weight decay on "weights" only, say).
TensorTree map_with_path(const TensorTree& tree, const std::function<Tensor(const std::string&, const Tensor&)>& f);
/// f(a_leaf, b_leaf) over two trees of the same structure; throws naming the first difference.
TensorTree zip_map(const TensorTree& a, const TensorTree& b, const std::function<Tensor(const Tensor&, const Tensor&)>& f);
/// f(a, b, c) over three trees of the same structure.
TensorTree zip_map(const TensorTree& a, const TensorTree& b, const TensorTree& c,
                   const std::function<Tensor(const Tensor&, const Tensor&, const Tensor&)>& f);
/// Leaves of `prefix` and `suffix` joined (paths prefixed by their names): states with several parts.
TensorTree merge(const std::vector<std::pair<std::string, TensorTree>>& parts);
/// Sum over leaves of sum(leaf²): the squared global norm.
Tensor squared_norm(const TensorTree& tree);

}  // namespace zephyr
