#include "zephyr/tensor_tree.h"

#include <fmt/format.h>

#include "zephyr/ops.h"
#include "zephyr/params.h"

namespace zephyr {

TensorTree::TensorTree(const Params& p) : leaves_(p.leaves()) {}

const Tensor& TensorTree::at(std::string_view path) const {
  for (const auto& [p, t] : leaves_)
    if (p == path) return t;
  throw Error(fmt::format("[TensorTree] no leaf at '{}'", path));
}

TensorTree TensorTree::operator[](std::string_view key) const {
  std::vector<Leaf> sub;
  for (const auto& [path, t] : leaves_) {
    if (path == key) sub.push_back({"", t});
    else if (path.size() > key.size() && path.compare(0, key.size(), key) == 0 && path[key.size()] == '/')
      sub.push_back({path.substr(key.size() + 1), t});
  }
  if (sub.empty()) throw Error(fmt::format("[TensorTree] no entry '{}'", key));
  return TensorTree(std::move(sub));
}

TensorTree map(const TensorTree& tree, const std::function<Tensor(const Tensor&)>& f) {
  return map_with_path(tree, [&](const std::string&, const Tensor& t) { return f(t); });
}

TensorTree map_with_path(const TensorTree& tree, const std::function<Tensor(const std::string&, const Tensor&)>& f) {
  std::vector<TensorTree::Leaf> out;
  for (const auto& [path, t] : tree) out.push_back({path, f(path, t)});
  return TensorTree(std::move(out));
}

namespace {
void check_same_structure(const TensorTree& a, const TensorTree& b, const char* what) {
  if (a.size() != b.size())
    throw Error(fmt::format("[{}] trees differ: {} leaves vs {}", what, a.size(), b.size()));
  for (size_t i = 0; i < a.size(); ++i)
    if (a.leaves()[i].first != b.leaves()[i].first)
      throw Error(fmt::format("[{}] trees differ at leaf {}: '{}' vs '{}'", what, i, a.leaves()[i].first,
                              b.leaves()[i].first));
  // Shapes may differ (f may broadcast); apply_updates, which must not, checks them itself.
}
}  // namespace

TensorTree zip_map(const TensorTree& a, const TensorTree& b, const std::function<Tensor(const Tensor&, const Tensor&)>& f) {
  check_same_structure(a, b, "zip_map");
  std::vector<TensorTree::Leaf> out;
  for (size_t i = 0; i < a.size(); ++i) out.push_back({a.leaves()[i].first, f(a.leaves()[i].second, b.leaves()[i].second)});
  return TensorTree(std::move(out));
}

TensorTree zip_map(const TensorTree& a, const TensorTree& b, const TensorTree& c,
                   const std::function<Tensor(const Tensor&, const Tensor&, const Tensor&)>& f) {
  check_same_structure(a, b, "zip_map");
  check_same_structure(a, c, "zip_map");
  std::vector<TensorTree::Leaf> out;
  for (size_t i = 0; i < a.size(); ++i)
    out.push_back({a.leaves()[i].first, f(a.leaves()[i].second, b.leaves()[i].second, c.leaves()[i].second)});
  return TensorTree(std::move(out));
}

TensorTree merge(const std::vector<std::pair<std::string, TensorTree>>& parts) {
  std::vector<TensorTree::Leaf> out;
  for (const auto& [name, tree] : parts)
    for (const auto& [path, t] : tree) out.push_back({join_path(name, path), t});
  return TensorTree(std::move(out));
}

Tensor squared_norm(const TensorTree& tree) {
  // Accumulated in the first leaf's dtype, so trees mixing f32 and f64 leaves work.
  Tensor total;
  for (const auto& [path, t] : tree) {
    Tensor s = sum(mul(t, t));
    total = total.defined() ? add(total, cast(s, total.dtype())) : s;
  }
  return total.defined() ? total : scalar(0.0);
}

}  // namespace zephyr
