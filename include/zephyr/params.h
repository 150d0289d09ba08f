// Params: the view of a parameter tree that model code indexes and declares templates on.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "zephyr/init.h"
#include "zephyr/param_tree.h"
#include "zephyr/tensor.h"

namespace zephyr {

/// What a parameter must look like: shape, dtype, initializer, and where the model said so.
struct Template {
  Shape shape;               ///< the parameter's shape
  Initializer init;          ///< fills it when trace creates it
  DType dtype = DType::f32;  ///< its element type
  SourceLoc loc;             ///< where the model declared it
};

/// `p["weights"] == z::array({in, out}, z::init::base)` declares a parameter.
Template array(Shape shape, Initializer init = init::base, DType dtype = DType::f32, Loc loc = Loc::current());

namespace detail {

/// The state behind every Params view of one trace or one jit call.
/// Tracing: templates are recorded and become leaves. Binding: templates validate a given tree.
class ParamScope {
 public:
  struct Leaf {
    std::string path;
    Template spec;    // the declared template (binding: taken from the tree if never declared)
    Tensor tensor;    // the Argument node that stands for this leaf in the graph
    bool declared = false;
    size_t tree_index = 0;  // binding: position of the leaf in the bound tree
  };

  static std::shared_ptr<ParamScope> tracing();
  /// `argument` names the jit argument in errors ("params").
  static std::shared_ptr<ParamScope> binding(const ParamTree& tree, std::string argument);
  /// Binding to graph values rather than a tree (vmap over a Params argument): the leaves are
  /// `paths`, and `leaf(path)` gives each as the model uses it (its per-example stand-in).
  static std::shared_ptr<ParamScope> mapped(std::vector<std::string> paths,
                                            std::function<Tensor(const std::string& path)> leaf,
                                            std::string argument);

  Tensor declare(const std::string& path, const Template& spec);
  Tensor use(const std::string& path, const SourceLoc& loc);
  /// The dtype the leaf at `path` is held in: the bound tree's (binding), the declared one, or
  /// nullopt for a leaf not declared yet (tracing).
  std::optional<DType> held_dtype(const std::string& path, const SourceLoc& loc);
  const std::vector<Leaf>& leaves() const { return leaves_; }
  /// Every leaf under `prefix` as (path relative to prefix, tensor): binding gives every leaf of
  /// the bound tree (used or not, in the tree's order), tracing the leaves declared so far.
  std::vector<std::pair<std::string, Tensor>> subtree(const std::string& prefix);
  /// Tracing: every declared leaf, initialized from `key` folded with a hash of its path.
  ParamTree initialize(random::Key key) const;

 private:
  Leaf* find(const std::string& path);
  Tensor bind(const std::string& path, const SourceLoc& loc);

  bool tracing_ = true;
  const ParamTree* tree_ = nullptr;  // binding only; outlives the scope (the jit call's argument)
  std::vector<std::string> mapped_paths_;                 // mapped only: the leaves there are
  std::function<Tensor(const std::string&)> mapped_leaf_;  // mapped only: a leaf's graph value
  std::string argument_;
  std::vector<Leaf> leaves_;
};

}  // namespace detail

/// A path into the parameters of the running trace or jit call. Cheap to copy.
/// Converts to a Tensor wherever one is expected.
class Params {
 public:
  /// The view at `path` of `scope`'s parameters (trace and jit make the root, path "").
  Params(std::shared_ptr<detail::ParamScope> scope, std::string path)
      : scope_(std::move(scope)), path_(std::move(path)) {}

  /// The child named `name`.
  Params operator[](std::string_view name) const { return Params(scope_, join_path(path_, name), read_as_); }
  /// The child at `index` (named "0", "1", ...).
  Params operator[](int index) const { return (*this)[std::to_string(index)]; }
  /// The '/'-joined path of this view ("" at the root).
  const std::string& path() const { return path_; }
  /// The leaf as a graph value; throws if no template declared it (tracing) or the tree lacks it.
  Tensor tensor(Loc loc = Loc::current()) const;
  /// The same parameters, with every float leaf read in `dtype`: the model computes in it while
  /// the tree (what gradients, optimizers and checkpoints see) keeps its own dtype. Mixed
  /// precision: f32 master weights, and `model(p.as(z::DType::bf16), x)`; the gradient reaches
  /// the f32 leaves through the casts.
  Params as(DType dtype) const { return Params(scope_, path_, dtype); }
  /// The leaf's shape: tensor(loc).shape().
  Shape shape(Loc loc = Loc::current()) const { return tensor(loc).shape(); }
  /// Every leaf under this path, as (relative path, tensor): what gradients and optimizers map over.
  std::vector<std::pair<std::string, Tensor>> leaves() const { return scope_->subtree(path_); }

  /// Declares the template of this leaf (tracing) or validates the given leaf against it (jit).
  /// A statement, as in zephyr: it returns nothing (z::validate returns the leaf).
  friend void operator==(const Params& p, const Template& spec) { p.scope_->declare(p.path_, p.held(spec)); }
  /// As `*this == spec`, returning the leaf as a Tensor (read as under as()).
  Tensor declare(const Template& spec) const;

 private:
  Params(std::shared_ptr<detail::ParamScope> scope, std::string path, std::optional<DType> read_as)
      : scope_(std::move(scope)), path_(std::move(path)), read_as_(read_as) {}
  Tensor read(Tensor leaf, Loc loc) const;
  // Under as(d), a template in d (a layer takes its dtype from its input) declares the leaf in
  // the dtype the tree holds it in (f32 for a new one).
  Template held(Template spec) const;

  std::shared_ptr<detail::ParamScope> scope_;
  std::string path_;
  std::optional<DType> read_as_;  // as(): float leaves are cast to it where they are read
};

/// As `p == z::array(shape, init)`, returning the leaf: `auto w = z::validate(p["w"], {3, 4});`.
Tensor validate(const Params& p, Shape shape, Initializer init = init::base, DType dtype = DType::f32,
                Loc loc = Loc::current());

/// Checks a relation between parameters (or inputs) that shapes alone cannot state; throws
/// "[validate] <path>: `expression` does not hold" at the caller. Use the macro to quote the
/// expression: ZEPHYR_VALIDATE(p, p["weights"].shape(-1) % heads == 0).
void validate(const Params& p, bool holds, std::string_view expression, Loc loc = Loc::current());

}  // namespace zephyr

#define ZEPHYR_VALIDATE(p, ...) ::zephyr::validate((p), static_cast<bool>(__VA_ARGS__), #__VA_ARGS__)
