#include "zephyr/params.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "zephyr/ops.h"

namespace zephyr {
namespace detail {
namespace {

// FNV-1a: a stable 32-bit hash, so a leaf's key depends only on the root key and its path.
uint32_t path_hash(std::string_view path) {
  uint32_t h = 2166136261u;
  for (unsigned char c : path) h = (h ^ c) * 16777619u;
  return h;
}

std::string at(const SourceLoc& loc) { return loc.line ? " at " + loc.str() : ""; }

Tensor argument(const std::string& name, const Shape& shape, DType dtype, const SourceLoc& loc) {
  Attrs attrs;
  attrs.name = name;
  return Tensor(make_node(OpKind::Argument, dtype, shape, {}, std::move(attrs), loc));
}

}  // namespace

std::shared_ptr<ParamScope> ParamScope::tracing() { return std::make_shared<ParamScope>(); }

std::shared_ptr<ParamScope> ParamScope::binding(const ParamTree& tree, std::string argument) {
  auto scope = std::make_shared<ParamScope>();
  scope->tracing_ = false;
  scope->tree_ = &tree;
  scope->argument_ = std::move(argument);
  return scope;
}

std::shared_ptr<ParamScope> ParamScope::mapped(std::vector<std::string> paths,
                                               std::function<Tensor(const std::string& path)> leaf,
                                               std::string argument) {
  auto scope = std::make_shared<ParamScope>();
  scope->tracing_ = false;
  scope->mapped_paths_ = std::move(paths);
  scope->mapped_leaf_ = std::move(leaf);
  scope->argument_ = std::move(argument);
  return scope;
}

ParamScope::Leaf* ParamScope::find(const std::string& path) {
  for (Leaf& leaf : leaves_)
    if (leaf.path == path) return &leaf;
  return nullptr;
}

Tensor ParamScope::bind(const std::string& path, const SourceLoc& loc) {
  if (mapped_leaf_) {
    if (std::find(mapped_paths_.begin(), mapped_paths_.end(), path) == mapped_paths_.end()) return {};
    Tensor t = mapped_leaf_(path);
    leaves_.push_back(Leaf{path, Template{t.shape(), init::zeros, t.dtype(), loc}, t, false, 0});
    return t;
  }
  const auto& tree_leaves = tree_->leaves();
  for (size_t i = 0; i < tree_leaves.size(); ++i) {
    if (tree_leaves[i].first != path) continue;
    const Array& a = tree_leaves[i].second;
    Leaf leaf{path, Template{a.shape(), init::zeros, a.dtype(), loc}, argument(path, a.shape(), a.dtype(), loc),
              false, i};
    leaves_.push_back(std::move(leaf));
    return leaves_.back().tensor;
  }
  return {};
}

Tensor ParamScope::declare(const std::string& path, const Template& spec) {
  if (path.empty()) fail_at(spec.loc, "params", "a template must be declared on a named leaf, e.g. p[\"weights\"]");
  if (Leaf* leaf = find(path)) {
    if (leaf->spec.shape != spec.shape || leaf->spec.dtype != spec.dtype) {
      std::string before = leaf->declared ? fmt::format("was declared as {}{}", describe(leaf->spec.dtype, leaf->spec.shape), at(leaf->spec.loc))
                                          : fmt::format("is {} in the tree passed as {}", describe(leaf->spec.dtype, leaf->spec.shape), argument_);
      fail_at(spec.loc, "params", fmt::format("'{}' {}, but the model now declares {}", path, before, describe(spec.dtype, spec.shape)));
    }
    if (!leaf->declared) {
      leaf->declared = true;
      leaf->spec.init = spec.init;
    }
    return leaf->tensor;
  }
  if (tracing_) {
    leaves_.push_back(Leaf{path, spec, argument(path, spec.shape, spec.dtype, spec.loc), true, 0});
    return leaves_.back().tensor;
  }
  Tensor bound = bind(path, spec.loc);
  if (!bound.defined())
    fail_at(spec.loc, "params",
            fmt::format("'{}' is missing from the tree passed as {} (the model declares {})", path, argument_,
                        describe(spec.dtype, spec.shape)));
  return declare(path, spec);  // now present: validates shape and dtype
}

std::optional<DType> ParamScope::held_dtype(const std::string& path, const SourceLoc& loc) {
  if (Leaf* leaf = find(path)) return leaf->spec.dtype;
  if (tracing_) return std::nullopt;
  const Tensor bound = bind(path, loc);
  return bound.defined() ? std::optional<DType>(bound.dtype()) : std::nullopt;
}

Tensor ParamScope::use(const std::string& path, const SourceLoc& loc) {
  if (Leaf* leaf = find(path)) return leaf->tensor;
  if (tracing_)
    fail_at(loc, "params",
            fmt::format("'{}' is used before any template declares it; declare it first with "
                        "p[...] == z::array(shape, init)",
                        path.empty() ? "(root)" : path));
  Tensor bound = bind(path, loc);
  if (!bound.defined()) fail_at(loc, "params", fmt::format("'{}' is missing from the tree passed as {}", path, argument_));
  return bound;
}

std::vector<std::pair<std::string, Tensor>> ParamScope::subtree(const std::string& prefix) {
  auto relative = [&](const std::string& path) -> std::optional<std::string> {
    if (prefix.empty()) return path;
    if (path == prefix) return std::string();
    if (path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0 && path[prefix.size()] == '/')
      return path.substr(prefix.size() + 1);
    return std::nullopt;
  };
  std::vector<std::pair<std::string, Tensor>> out;
  if (tracing_) {
    for (const Leaf& leaf : leaves_)
      if (auto r = relative(leaf.path)) out.push_back({*r, leaf.tensor});
    return out;
  }
  if (mapped_leaf_) {
    for (const std::string& path : mapped_paths_)
      if (auto r = relative(path)) out.push_back({*r, use(path, {})});
    return out;
  }
  for (const auto& [path, array] : tree_->leaves())
    if (auto r = relative(path)) out.push_back({*r, use(path, {})});
  return out;
}

ParamTree ParamScope::initialize(random::Key key) const {
  std::vector<ParamTree::Leaf> out;
  for (const Leaf& leaf : leaves_) {
    Array value = leaf.spec.init(random::fold_in(key, path_hash(leaf.path)), leaf.spec.shape, leaf.spec.dtype);
    if (value.shape() != leaf.spec.shape || value.dtype() != leaf.spec.dtype)
      fail_at(leaf.spec.loc, "params",
              fmt::format("initializer '{}' for '{}' returned {}, expected {}", leaf.spec.init.name, leaf.path,
                          describe(value.dtype(), value.shape()), describe(leaf.spec.dtype, leaf.spec.shape)));
    out.push_back({leaf.path, std::move(value)});
  }
  return ParamTree(std::move(out));
}

}  // namespace detail

Template array(Shape shape, Initializer init, DType dtype, Loc loc) {
  for (int64_t d : shape)
    if (d < 0) fail_at(SourceLoc::from(loc), "array", "negative extent in template shape " + to_string(shape));
  return Template{std::move(shape), std::move(init), dtype, SourceLoc::from(loc)};
}

Tensor::Tensor(const Params& p, Loc loc) : Tensor(p.tensor(loc)) {}

Tensor Params::tensor(Loc loc) const { return read(scope_->use(path_, SourceLoc::from(loc)), loc); }

Tensor Params::declare(const Template& spec) const { return read(scope_->declare(path_, held(spec)), Loc::current()); }

Template Params::held(Template spec) const {
  if (read_as_ && spec.dtype == *read_as_) spec.dtype = scope_->held_dtype(path_, spec.loc).value_or(DType::f32);
  return spec;
}

Tensor Params::read(Tensor leaf, Loc loc) const {
  if (!read_as_ || !leaf.defined() || !is_float(leaf.dtype()) || leaf.dtype() == *read_as_) return leaf;
  return cast(leaf, *read_as_, loc);
}

Tensor validate(const Params& p, Shape shape, Initializer init, DType dtype, Loc loc) {
  return p.declare(array(std::move(shape), std::move(init), dtype, loc));
}

void validate(const Params& p, bool holds, std::string_view expression, Loc loc) {
  if (!holds)
    fail_at(SourceLoc::from(loc), "validate",
            fmt::format("{}: `{}` does not hold", p.path().empty() ? "<root>" : p.path(), expression));
}

}  // namespace zephyr
