#include <fmt/format.h>

#include <cmath>

#include "zephyr/ops.h"
#include "zephyr/optim.h"

namespace zephyr::optim {
namespace {

// Zeros shaped like every leaf of `params`, under `name/`.
std::vector<ParamTree::Leaf> zeros_under(const std::string& name, const ParamTree& params) {
  std::vector<ParamTree::Leaf> out;
  for (const auto& [path, a] : params) out.push_back({join_path(name, path), Array::zeros(a.shape(), a.dtype())});
  return out;
}

ParamTree state_of(const ParamTree& params, std::initializer_list<const char*> moments) {
  // An integer step counts exactly far beyond f32's 2^24.
  std::vector<ParamTree::Leaf> leaves{{"step", Array::zeros({}, DType::i32)}};
  for (const char* m : moments)
    for (auto& leaf : zeros_under(m, params)) leaves.push_back(std::move(leaf));
  return ParamTree(std::move(leaves));
}

// The step as a value of the leaf's dtype: schedules and bias corrections are then computed in
// the precision of the parameter they update (f64 params get f64 rates).
Tensor step_as(const Tensor& step, const Tensor& leaf) { return cast(step, leaf.dtype()); }

}  // namespace

LearningRate::LearningRate(double constant)
    : at([constant](const Tensor& step) { return scalar(constant, step.dtype()); }) {}

LearningRate cosine(double peak, int64_t steps, double final_fraction) {
  return LearningRate([=](const Tensor& step) {
    Tensor progress = minimum(step / static_cast<double>(steps), scalar(1.0, step.dtype()));
    Tensor wave = 0.5 * (1.0 + cos(progress * M_PI));
    return peak * (final_fraction + (1.0 - final_fraction) * wave);
  });
}

LearningRate warmup(int64_t steps, LearningRate after) {
  // Ramps up to after(1), then runs `after` from its own step 1: warmup delays the schedule.
  return LearningRate([=](const Tensor& step) {
    Tensor one = scalar(1.0, step.dtype());
    Tensor ramp = minimum(step / static_cast<double>(steps), one);
    Tensor shifted = maximum(step - static_cast<double>(steps), one);
    return ramp * after.at(shifted);
  });
}

TensorTree apply_updates(const TensorTree& params, const TensorTree& updates) {
  // Same shapes only: broadcasting here would silently reshape a parameter.
  for (size_t i = 0; i < std::min(params.size(), updates.size()); ++i) {
    const auto& [path, x] = params.leaves()[i];
    const Tensor& u = updates.leaves()[i].second;
    if (x.shape() != u.shape())
      throw Error(fmt::format("[apply_updates] '{}' is {} but its update is {}", path, describe(x.dtype(), x.shape()),
                              describe(u.dtype(), u.shape())));
  }
  return zip_map(params, updates, [](const Tensor& p, const Tensor& u) { return p - u; });
}

Optimizer sgd(LearningRate lr, double momentum, bool nesterov) {
  Optimizer o;
  o.name = momentum == 0 ? "sgd" : nesterov ? "sgd(nesterov)" : "sgd(momentum)";
  o.init = [momentum](const ParamTree& p) { return momentum == 0 ? state_of(p, {}) : state_of(p, {"velocity"}); };
  o.apply = [=](const TensorTree& g, const TensorTree& s, const TensorTree& p) {
    Tensor step = s.at("step") + 1.0;
    auto descend = [&](const Tensor& x, const Tensor& d) { return x - lr.at(step_as(step, x)) * d; };
    if (momentum == 0) return std::pair{zip_map(p, g, descend), merge({{"step", TensorTree({{"", step}})}})};
    TensorTree v = zip_map(s["velocity"], g, [&](const Tensor& v0, const Tensor& d) { return momentum * v0 + d; });
    TensorTree direction = nesterov ? zip_map(g, v, [&](const Tensor& d, const Tensor& v1) { return d + momentum * v1; }) : v;
    TensorTree params = zip_map(p, direction, descend);
    return std::pair{params, merge({{"step", TensorTree({{"", step}})}, {"velocity", v}})};
  };
  return o;
}

Optimizer adamw(LearningRate lr, double weight_decay, std::function<bool(const std::string&)> decay, double b1,
                double b2, double eps) {
  if (!decay) decay = [](const std::string& path) { return path == "weights" || path.ends_with("/weights"); };
  Optimizer o;
  o.name = weight_decay == 0 ? "adam" : "adamw";
  o.init = [](const ParamTree& p) { return state_of(p, {"mu", "nu"}); };
  o.apply = [=](const TensorTree& g, const TensorTree& s, const TensorTree& p) {
    Tensor step = s.at("step") + 1.0;
    TensorTree mu = zip_map(s["mu"], g, [&](const Tensor& m, const Tensor& d) { return b1 * m + (1.0 - b1) * d; });
    TensorTree nu = zip_map(s["nu"], g, [&](const Tensor& v, const Tensor& d) { return b2 * v + (1.0 - b2) * d * d; });
    std::vector<TensorTree::Leaf> params;
    for (size_t i = 0; i < p.size(); ++i) {
      const auto& [path, x] = p.leaves()[i];
      Tensor m = mu.leaves()[i].second, v = nu.leaves()[i].second;
      // Bias corrections 1 - β^t in the leaf's precision (CSE shares them between leaves).
      Tensor t = step_as(step, x);
      Tensor c1 = 1.0 - pow(scalar(b1, x.dtype()), t), c2 = 1.0 - pow(scalar(b2, x.dtype()), t);
      Tensor update = (m / c1) / (sqrt(v / c2) + eps);
      if (weight_decay != 0 && decay(path)) update = update + weight_decay * x;
      params.push_back({path, x - lr.at(t) * update});
    }
    return std::pair{TensorTree(std::move(params)), merge({{"step", TensorTree({{"", step}})}, {"mu", mu}, {"nu", nu}})};
  };
  return o;
}

Optimizer adam(LearningRate lr, double b1, double b2, double eps) { return adamw(std::move(lr), 0.0, nullptr, b1, b2, eps); }

Optimizer clip_by_global_norm(double max_norm, Optimizer inner) {
  Optimizer o = inner;
  o.name = fmt::format("clip({}, {})", max_norm, inner.name);
  o.apply = [=](const TensorTree& g, const TensorTree& s, const TensorTree& p) {
    Tensor norm = sqrt(squared_norm(g));
    Tensor factor = minimum(scalar(1.0, norm.dtype()), max_norm / (norm + 1e-12));
    return inner.apply(map(g, [&](const Tensor& d) { return d * cast(factor, d.dtype()); }), s, p);
  };
  return o;
}

}  // namespace zephyr::optim
