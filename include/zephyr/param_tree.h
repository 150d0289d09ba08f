// ParamTree: the concrete, named, ordered tree of parameter arrays that trace returns.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "zephyr/array.h"
#include "zephyr/error.h"

namespace zephyr {

/// A key of ParamTree::operator[]: a name or an index, and the line that indexed, so that a
/// missing entry is reported at the user's code ("model.cpp:12:7: [ParamTree] no entry 'l3'").
struct TreeKey {
  std::string name;  ///< the entry's name (an index as its decimal digits)
  SourceLoc loc;     ///< the line that indexed
  /// A name, at the caller's line.
  TreeKey(std::string_view n, std::source_location l = std::source_location::current())  // NOLINT: implicit
      : name(n), loc(SourceLoc::from(l)) {}
  /// A name, at the caller's line.
  TreeKey(const char* n, std::source_location l = std::source_location::current())  // NOLINT: implicit
      : name(n), loc(SourceLoc::from(l)) {}
  /// A name, at the caller's line.
  TreeKey(const std::string& n, std::source_location l = std::source_location::current())  // NOLINT: implicit
      : name(n), loc(SourceLoc::from(l)) {}
  /// An index, named by its decimal digits ("0"), at the caller's line.
  TreeKey(int index, std::source_location l = std::source_location::current())  // NOLINT: implicit
      : name(std::to_string(index)), loc(SourceLoc::from(l)) {}
};

/// Leaves are kept flat, in first-declared order, under '/'-joined paths ("encoder/mlp_1/0/weights").
/// Indexing gives a sub-tree that shares the arrays; a leaf is a tree with one entry at path "".
class ParamTree {
 public:
  /// A path and its array.
  using Leaf = std::pair<std::string, Array>;

  ParamTree() = default;
  /// A tree of these leaves, in this order.
  explicit ParamTree(std::vector<Leaf> leaves) : leaves_(std::move(leaves)), layout_(new_layout_id()) {}
  /// Shares the arrays and the layout id.
  ParamTree(const ParamTree&) = default;
  /// Shares the arrays and the layout id.
  ParamTree& operator=(const ParamTree&) = default;
  /// Takes the leaves and the layout id: `other` is left empty, its layout id 0.
  ParamTree(ParamTree&& other) noexcept : leaves_(std::move(other.leaves_)), layout_(std::exchange(other.layout_, 0)) {}
  /// Takes the leaves and the layout id: `other` is left empty, its layout id 0.
  ParamTree& operator=(ParamTree&& other) noexcept {
    leaves_ = std::move(other.leaves_);
    other.leaves_.clear();
    layout_ = std::exchange(other.layout_, 0);
    return *this;
  }

  /// The sub-tree (or leaf) under `key` (a name or an index); throws naming the key, the entries
  /// there and the caller's line if absent.
  ParamTree operator[](const TreeKey& key) const;

  /// True for a single entry at path "".
  bool is_leaf() const { return leaves_.size() == 1 && leaves_[0].first.empty(); }
  /// The array of a leaf tree (a handle sharing the buffer: returned by value so that
  /// `const Array& w = tree["w"];` never dangles).
  Array array() const;
  /// array(): a leaf reads as its array.
  operator Array() const { return array(); }  // NOLINT: a leaf reads as its array

  /// The leaf at a '/'-joined path relative to this tree; throws naming the caller's line if absent.
  const Array& at(std::string_view path, std::source_location where = std::source_location::current()) const;
  /// Whether a leaf sits at exactly `path`, relative to this tree (a sub-tree's prefix is not one).
  bool contains(std::string_view path) const;
  /// Replaces the leaf at `path`, or appends it: model surgery by name. A sub-tree from
  /// operator[] is a copy (sharing the arrays' bytes), so set() on it does not reach this tree:
  /// set the full path here, or the whole sub-tree with the overload below.
  void set(std::string_view path, Array value);
  /// Replaces or appends every leaf of `subtree` under `prefix` ("encoder": its "0/weights"
  /// becomes "encoder/0/weights"): a sub-tree edited on its own, put back.
  void set(std::string_view prefix, const ParamTree& subtree);

  /// (path, array) for every leaf, in order.
  const std::vector<Leaf>& leaves() const { return leaves_; }
  /// Iterates over leaves().
  auto begin() const { return leaves_.begin(); }
  /// End of leaves().
  auto end() const { return leaves_.end(); }
  /// Number of leaves.
  size_t size() const { return leaves_.size(); }
  /// True when there are no leaves.
  bool empty() const { return leaves_.empty(); }
  /// Number of scalars over all leaves.
  int64_t count() const;
  /// Child names at the top level, in order.
  std::vector<std::string> keys() const;
  /// "path dtype[shape]" per leaf, each on its own line, then the totals.
  std::string str() const;

  /// Names this tree's layout (its paths, dtypes and shapes): new each time a tree is built or
  /// set() changes it, kept by copies, 0 for an empty or moved-from tree. Two trees with the same
  /// nonzero id have the same layout, so a jit call given the same tree again recognizes it by
  /// the id instead of reading every path.
  uint64_t layout_id() const { return layout_; }

 private:
  static uint64_t new_layout_id();
  std::vector<Leaf> leaves_;
  uint64_t layout_ = 0;
};

/// The leaves' arrays, in order (the tree's structure is its paths: see unflatten).
std::vector<Array> flatten(const ParamTree& tree);
/// A tree with `like`'s paths and `arrays` as leaves; counts must agree.
ParamTree unflatten(const ParamTree& like, std::vector<Array> arrays);
/// f(path, array) for every leaf, on the host: surgery, casting, freezing by name.
ParamTree map_with_path(const ParamTree& tree, const std::function<Array(const std::string&, const Array&)>& f);

/// The trees' leaves stacked along a new leading axis, one row per tree: an ensemble's params
/// for `z::vmap(model, {0, ...})`. The trees must have the same paths, shapes and dtypes.
ParamTree stack(const std::vector<ParamTree>& trees);
/// The rows of every leaf along axis 0, as one tree each: stack's inverse.
std::vector<ParamTree> unstack(const ParamTree& tree);

/// Joins two path pieces with '/', skipping empty ones.
std::string join_path(std::string_view prefix, std::string_view name);

}  // namespace zephyr

/// Formats a ParamTree as its str().
template <>
struct fmt::formatter<zephyr::ParamTree> : fmt::formatter<std::string_view> {
  /// Writes tree.str().
  template <class Context>
  auto format(const zephyr::ParamTree& tree, Context& ctx) const {
    return fmt::formatter<std::string_view>::format(tree.str(), ctx);
  }
};
