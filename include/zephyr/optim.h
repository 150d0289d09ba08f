// Optimizers as pure functions over trees, usable inside jit: state in, state out.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "zephyr/param_tree.h"
#include "zephyr/tensor_tree.h"

namespace zephyr::optim {

/// A learning rate: a constant, or a schedule of the step count (1-based), which it receives as
/// a scalar of the updated parameter's dtype and returns in that dtype.
struct LearningRate {
  std::function<Tensor(const Tensor& step)> at;  ///< the rate at a step count
  /// The same rate at every step.
  LearningRate(double constant);  // NOLINT: adam(1e-3) reads naturally
  /// A schedule: the rate as a function of the step count.
  LearningRate(std::function<Tensor(const Tensor&)> schedule) : at(std::move(schedule)) {}  // NOLINT
};

/// `peak` decaying to `peak * final_fraction` along a half cosine over `steps` steps.
LearningRate cosine(double peak, int64_t steps, double final_fraction = 0.0);
/// Linear ramp up to after(1) over `steps` steps, then `after` from its own step 1.
LearningRate warmup(int64_t steps, LearningRate after);

/// A pure optimizer. State is a tree: "step" (i32 scalar) and one sub-tree per moment, with
/// the params' paths ("mu/encoder/0/weights"), so it saves and loads like params.
struct Optimizer {
  std::string name;  ///< "adam", "sgd(momentum)", ...
  /// The initial state for `params`.
  std::function<ParamTree(const ParamTree& params)> init;
  /// New params and new state from gradients, params and state (graph values, inside jit).
  std::function<std::pair<TensorTree, TensorTree>(const TensorTree& grads, const TensorTree& state,
                                                  const TensorTree& params)>
      apply;

  /// apply(grads, state, params).
  std::pair<TensorTree, TensorTree> update(const TensorTree& grads, const TensorTree& state,
                                           const TensorTree& params) const {
    return apply(grads, state, params);
  }
};

/// p -= lr · g; with momentum: v = μ·v + g, p -= lr · v (Nesterov: p -= lr · (g + μ·v)).
Optimizer sgd(LearningRate lr, double momentum = 0.0, bool nesterov = false);
/// Adam (Kingma & Ba) with bias correction.
Optimizer adam(LearningRate lr, double b1 = 0.9, double b2 = 0.999, double eps = 1e-8);
/// Adam with decoupled weight decay on the leaves `decay` selects by path (default: leaves named
/// "weights", not biases or norms).
Optimizer adamw(LearningRate lr, double weight_decay = 1e-4,
                std::function<bool(const std::string& path)> decay = nullptr, double b1 = 0.9,
                double b2 = 0.999, double eps = 1e-8);
/// Scales the gradients so their global norm is at most `max_norm`, then runs `inner`.
Optimizer clip_by_global_norm(double max_norm, Optimizer inner);

/// `inner` on the leaves `trainable` selects by path; every other leaf is frozen: it keeps its
/// value exactly (no step, no weight decay) and has no optimizer state. The state is inner's over
/// the trainable leaves ("step", "mu/<path>", ...). As optax.multi_transform with set_to_zero for
/// the rest (optax.masked alone would pass the raw gradient through). A predicate that selects
/// no leaf is an error at init, naming the leaves.
Optimizer masked(Optimizer inner, std::function<bool(const std::string& path)> trainable);
/// A different optimizer per group of leaves (optax.multi_transform): `label(path)` names the
/// group of each leaf, and `by_label` gives each group's optimizer. Group g's state sits under
/// "g/" ("encoder/step", "encoder/mu/encoder/0/weights"). A label with no optimizer is an error
/// at init naming the leaf.
Optimizer multi_transform(std::vector<std::pair<std::string, Optimizer>> by_label,
                          std::function<std::string(const std::string& path)> label);

/// params - update, leaf by leaf (same paths and shapes, else an error naming the leaf).
TensorTree apply_updates(const TensorTree& params, const TensorTree& updates);

}  // namespace zephyr::optim

namespace zephyr {
/// The optimizer state as a model function sees it inside jit (a ParamTree when called).
using OptState = TensorTree;
}  // namespace zephyr
