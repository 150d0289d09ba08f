#include "zephyr/param_tree.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstring>

namespace zephyr {
namespace {

// Is `path` equal to `prefix`, or below it?
bool under(std::string_view path, std::string_view prefix) {
  return path.size() >= prefix.size() && path.substr(0, prefix.size()) == prefix &&
         (path.size() == prefix.size() || path[prefix.size()] == '/');
}

}  // namespace

std::vector<Array> flatten(const ParamTree& tree) {
  std::vector<Array> out;
  for (const auto& leaf : tree) out.push_back(leaf.second);
  return out;
}

ParamTree unflatten(const ParamTree& like, std::vector<Array> arrays) {
  if (arrays.size() != like.size())
    throw Error(fmt::format("[unflatten] {} arrays for a tree of {} leaves", arrays.size(), like.size()));
  std::vector<ParamTree::Leaf> leaves;
  for (size_t i = 0; i < arrays.size(); ++i) leaves.push_back({like.leaves()[i].first, std::move(arrays[i])});
  return ParamTree(std::move(leaves));
}

ParamTree map_with_path(const ParamTree& tree, const std::function<Array(const std::string&, const Array&)>& f) {
  std::vector<ParamTree::Leaf> leaves;
  for (const auto& [path, a] : tree) leaves.push_back({path, f(path, a)});
  return ParamTree(std::move(leaves));
}

ParamTree stack(const std::vector<ParamTree>& trees) {
  if (trees.empty()) throw Error("[stack] needs at least one tree");
  const ParamTree& first = trees[0];
  std::vector<ParamTree::Leaf> leaves;
  for (size_t l = 0; l < first.size(); ++l) {
    const auto& [path, a] = first.leaves()[l];
    Shape shape{static_cast<int64_t>(trees.size())};
    shape.insert(shape.end(), a.shape().begin(), a.shape().end());
    Array out(shape, a.dtype());
    for (size_t t = 0; t < trees.size(); ++t) {
      if (trees[t].size() != first.size() || trees[t].leaves()[l].first != path)
        throw Error(fmt::format("[stack] tree {} does not have tree 0's paths (leaf {} of tree 0 is '{}')", t, l, path));
      const Array& b = trees[t].leaves()[l].second;
      if (b.shape() != a.shape() || b.dtype() != a.dtype())
        throw Error(fmt::format("[stack] '{}' is {} in tree {} but {} in tree 0", path, describe(b.dtype(), b.shape()), t,
                                describe(a.dtype(), a.shape())));
      std::memcpy(static_cast<char*>(out.raw()) + t * a.nbytes(), b.raw(), a.nbytes());
    }
    leaves.push_back({path, std::move(out)});
  }
  return ParamTree(std::move(leaves));
}

std::vector<ParamTree> unstack(const ParamTree& tree) {
  if (tree.empty()) return {};
  int64_t rows = -1;
  for (const auto& [path, a] : tree) {
    if (a.shape().empty())
      throw Error(fmt::format("[unstack] '{}' is {}: a scalar has no rows", path, describe(a.dtype(), a.shape())));
    if (rows >= 0 && a.shape()[0] != rows)
      throw Error(fmt::format("[unstack] '{}' is {}, but the leaves before it have {} rows", path,
                              describe(a.dtype(), a.shape()), rows));
    rows = a.shape()[0];
  }
  std::vector<ParamTree> out;
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<ParamTree::Leaf> leaves;
    for (const auto& [path, a] : tree) {
      Array row(Shape(a.shape().begin() + 1, a.shape().end()), a.dtype());
      std::memcpy(row.raw(), static_cast<const char*>(a.raw()) + r * row.nbytes(), row.nbytes());
      leaves.push_back({path, std::move(row)});
    }
    out.emplace_back(std::move(leaves));
  }
  return out;
}

std::string join_path(std::string_view prefix, std::string_view name) {
  if (prefix.empty()) return std::string(name);
  if (name.empty()) return std::string(prefix);
  return std::string(prefix) + "/" + std::string(name);
}

ParamTree ParamTree::operator[](const TreeKey& tree_key) const {
  const std::string_view key = tree_key.name;
  std::vector<Leaf> sub;
  for (const auto& [path, array] : leaves_)
    if (under(path, key)) sub.push_back({path.size() == key.size() ? "" : path.substr(key.size() + 1), array});
  if (sub.empty()) {
    std::vector<std::string> names = keys();
    fail_at(tree_key.loc, "ParamTree", fmt::format("no entry '{}' (entries here: {})", key, fmt::join(names, ", ")));
  }
  return ParamTree(std::move(sub));
}

Array ParamTree::array() const {
  if (!is_leaf())
    throw Error(fmt::format("[ParamTree] not a leaf: this tree has {} leaves ({})", leaves_.size(),
                            fmt::join(keys(), ", ")));
  return leaves_[0].second;
}

const Array& ParamTree::at(std::string_view path, std::source_location where) const {
  for (const auto& [p, array] : leaves_)
    if (p == path) return array;
  fail_at(SourceLoc::from(where), "ParamTree", fmt::format("no leaf at '{}'", path));
}

bool ParamTree::contains(std::string_view path) const {
  return std::any_of(leaves_.begin(), leaves_.end(), [&](const Leaf& l) { return l.first == path; });
}

uint64_t ParamTree::new_layout_id() {
  static std::atomic<uint64_t> next{1};  // 0 names no layout
  return next.fetch_add(1, std::memory_order_relaxed);
}

void ParamTree::set(std::string_view path, Array value) {
  layout_ = new_layout_id();  // the leaf's shape or dtype may change, or a leaf be added
  for (auto& [p, array] : leaves_)
    if (p == path) {
      array = std::move(value);
      return;
    }
  leaves_.push_back({std::string(path), std::move(value)});
}

void ParamTree::set(std::string_view prefix, const ParamTree& subtree) {
  for (const auto& [path, array] : subtree) set(join_path(prefix, path), array);
}

int64_t ParamTree::count() const {
  int64_t n = 0;
  for (const auto& leaf : leaves_) n += leaf.second.size();
  return n;
}

std::vector<std::string> ParamTree::keys() const {
  std::vector<std::string> names;
  for (const auto& leaf : leaves_) {
    std::string head = leaf.first.substr(0, leaf.first.find('/'));
    if (std::find(names.begin(), names.end(), head) == names.end()) names.push_back(head);
  }
  return names;
}

std::string ParamTree::str() const {
  size_t width = 4;
  for (const auto& leaf : leaves_) width = std::max(width, leaf.first.size());
  std::string out;
  for (const auto& [path, array] : leaves_)
    out += fmt::format("{:<{}}  {:<16} {:>10}\n", path.empty() ? "." : path, width,
                       describe(array.dtype(), array.shape()), array.size());
  out += fmt::format("{} leaves, {} parameters", leaves_.size(), count());
  return out;
}

}  // namespace zephyr
