// Optimizers over groups of leaves chosen by path: masked (train some, freeze the rest) and
// multi_transform (one optimizer per labelled group).
#include <fmt/format.h>

#include "zephyr/optim.h"

namespace zephyr::optim {
namespace {

// The leaves of `tree` whose paths `chosen` accepts, in the tree's order.
template <class Tree, class Chosen>
Tree pick(const Tree& tree, const Chosen& chosen) {
  std::vector<typename Tree::Leaf> out;
  for (const auto& leaf : tree)
    if (chosen(leaf.first)) out.push_back(leaf);
  return Tree(std::move(out));
}

// `params` with the leaves `updated` holds replaced by its values (every other leaf as it was).
TensorTree put_back(const TensorTree& params, const std::vector<TensorTree>& updated) {
  std::vector<TensorTree::Leaf> out;
  for (const auto& [path, x] : params) {
    Tensor value = x;
    for (const TensorTree& group : updated)
      for (const auto& [p, u] : group)
        if (p == path) value = u;
    out.push_back({path, value});
  }
  return TensorTree(std::move(out));
}

std::string listing(const ParamTree& params) {
  std::string out;
  for (const auto& [path, a] : params) out += (out.empty() ? "'" : ", '") + path + "'";
  return out;
}

}  // namespace

Optimizer masked(Optimizer inner, std::function<bool(const std::string&)> trainable) {
  if (!trainable) throw Error("[masked] the predicate is empty");
  Optimizer o;
  o.name = fmt::format("masked({})", inner.name);
  o.init = [inner, trainable](const ParamTree& params) {
    ParamTree chosen = pick(params, trainable);
    if (chosen.empty())
      throw Error(fmt::format("[masked] the predicate selects none of the {} leaves: {}", params.size(), listing(params)));
    return inner.init(chosen);
  };
  o.apply = [inner, trainable](const TensorTree& g, const TensorTree& s, const TensorTree& p) {
    auto [trained, state] = inner.apply(pick(g, trainable), s, pick(p, trainable));
    return std::pair{put_back(p, {trained}), state};
  };
  return o;
}

Optimizer multi_transform(std::vector<std::pair<std::string, Optimizer>> by_label,
                          std::function<std::string(const std::string&)> label) {
  if (!label) throw Error("[multi_transform] the labelling function is empty");
  Optimizer o;
  o.name = "multi_transform(";
  for (const auto& [l, opt] : by_label) o.name += fmt::format("{}{}: {}", o.name.back() == '(' ? "" : ", ", l, opt.name);
  o.name += ")";
  o.init = [by_label, label](const ParamTree& params) {
    for (const auto& [path, a] : params) {
      const std::string l = label(path);
      bool known = false;
      for (const auto& entry : by_label) known = known || entry.first == l;
      if (!known) {
        std::string labels;
        for (const auto& entry : by_label) labels += (labels.empty() ? "'" : ", '") + entry.first + "'";
        throw Error(fmt::format("[multi_transform] leaf '{}' has the label '{}', which names no optimizer (labels: {})",
                                path, l, labels));
      }
    }
    std::vector<ParamTree::Leaf> state;
    for (const auto& [l, opt] : by_label) {
      const ParamTree group = pick(params, [&, l = l](const std::string& path) { return label(path) == l; });
      for (const auto& [path, a] : opt.init(group)) state.push_back({join_path(l, path), a});
    }
    return ParamTree(std::move(state));
  };
  o.apply = [by_label, label](const TensorTree& g, const TensorTree& s, const TensorTree& p) {
    std::vector<TensorTree> trained;
    std::vector<std::pair<std::string, TensorTree>> states;
    for (const auto& [l, opt] : by_label) {
      auto in_group = [&, l = l](const std::string& path) { return label(path) == l; };
      auto [params, state] = opt.apply(pick(g, in_group), s[l], pick(p, in_group));
      trained.push_back(std::move(params));
      states.push_back({l, std::move(state)});
    }
    return std::pair{put_back(p, trained), merge(states)};
  };
  return o;
}

}  // namespace zephyr::optim
