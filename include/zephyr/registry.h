// The model registry: one line makes a model known to the `zephyr` tool (params, ir, compile).
//
//   z::Tensor autoencoder(z::Params p, z::Tensor x, int embed, int latent);
//   ZEPHYR_MODEL(autoencoder, autoencoder, z::spec({8, 64}), 512, 256);
//
// Arguments after the function: one z::spec per Tensor input (shape, dtype), then the
// hyper-parameters, passed as the model takes them. Link the file with zephyr::cli, which
// provides main(), and the resulting program is the zephyr tool with your models added.
#pragma once

#include <functional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "zephyr/grad.h"
#include "zephyr/jit.h"
#include "zephyr/optim.h"

namespace zephyr {

/// An example input: its shape, dtype and name (in IR dumps, headers and `zephyr run` files;
/// default "x" for the first input, "input<i>" for the others).
struct InputSpec {
  Shape shape;               ///< the example's shape
  DType dtype = DType::f32;  ///< its element type
  std::string name;          ///< empty: the default name
};
inline InputSpec spec(Shape shape, DType dtype = DType::f32, std::string name = "") {
  return {std::move(shape), dtype, std::move(name)};
}

/// What the tool needs of a model: how to trace it and how to build each of its graphs.
struct RegisteredModel {
  std::string name;                                   ///< what the tool's commands call it
  std::string signature;                              ///< "name(params, x: ..., constants...)" (`zephyr models`)
  std::function<ParamTree(random::Key)> trace;        ///< the initial parameters, from a key
  std::function<Function(const ParamTree&)> forward;  ///< the model's graph for these parameters
  /// value_and_grad with respect to the params (the model must return a scalar).
  std::function<Function(const ParamTree&)> grad;
  /// One training step with `optimizer`: (params, state, inputs...) -> (params, state, loss).
  std::function<Function(const ParamTree&, const optim::Optimizer& optimizer)> train_step;
  /// The same model with other example input shapes (one per input, in order; `zephyr
  /// --input-shape`). Throws if the count differs; the model's own shape checks do the rest.
  std::function<RegisteredModel(const std::vector<Shape>&)> with_input_shapes;
  /// The model called on symbolic inputs (one per input spec) with its hyper-parameters, for
  /// callers that build on it (`zephyr train` puts a loss on a plugin's classifier). Empty when
  /// the model does not return one Tensor.
  std::function<Tensor(Params, const std::vector<Tensor>&)> apply;
};

/// Every registered model, in registration order.
std::vector<RegisteredModel>& model_registry();
/// Adds a model; a second model of the same name is an error.
bool register_model(RegisteredModel model);
/// The model called `name`; throws listing the known names.
const RegisteredModel& find_registered_model(const std::string& name);

namespace detail {

template <size_t>
using TensorFor = Tensor;  // one Tensor parameter per input spec

template <class... T>
constexpr size_t leading_specs() {
  constexpr bool is_spec[] = {std::is_same_v<std::decay_t<T>, InputSpec>..., false};
  size_t n = 0;
  while (is_spec[n]) ++n;
  return n;
}

template <size_t N, class F, class Tuple, size_t... I, size_t... J>
RegisteredModel describe_model(std::string name, F f, const Tuple& all, std::index_sequence<I...>,
                               std::index_sequence<J...>) {
  std::vector<Array> examples{Array::zeros(std::get<I>(all).shape, std::get<I>(all).dtype)...};
  auto hyper = std::make_tuple(std::get<N + J>(all)...);
  // Inputs get the specs' names instead of the binder's positional ones; `first` is the call
  // position of the first input (after the params, or the params and the optimizer state).
  const std::vector<std::string> input_names{
      (!std::get<I>(all).name.empty() ? std::get<I>(all).name : I == 0 ? "x" : "input" + std::to_string(I))...};
  auto names_from = [input_names](size_t first) {
    std::vector<std::pair<std::string, std::string>> names;
    for (size_t i = 0; i < input_names.size(); ++i) names.push_back({argument_name(first + i), input_names[i]});
    return names;
  };
  const auto names = names_from(1);
  RegisteredModel m;
  m.name = std::move(name);
  std::string inputs;
  ((inputs += ", " + input_names[I] + ": " + signature_of(examples[I])), ...);
  std::string constants;
  ((constants += ", " + signature_of(std::get<J>(hyper))), ...);
  m.signature = fmt::format("{}(params{}{})", m.name, inputs, constants);
  m.trace = [=](random::Key key) { return zephyr::trace(f, key, examples[I]..., std::get<J>(hyper)...); };
  m.forward = [=](const ParamTree& p) {
    return rename_arguments(make_function(f, p, examples[I]..., std::get<J>(hyper)...), names);
  };
  auto loss = [=](Params p, const TensorFor<I>&... x) { return f(p, x..., std::get<J>(hyper)...); };
  m.grad = [=](const ParamTree& p) {
    return rename_arguments(
        make_function([=](Params q, const TensorFor<I>&... x) { return value_and_grad(loss)(q, x...); }, p, examples[I]...),
        names);
  };
  m.train_step = [=](const ParamTree& p, const optim::Optimizer& opt) {
    auto step = [=](Params q, OptState s, const TensorFor<I>&... x) {
      auto [value, grads] = value_and_grad(loss)(q, x...);
      auto [q2, s2] = opt.update(grads, s, q);
      return std::tuple{q2, s2, value};
    };
    return rename_results(rename_arguments(make_function(step, p, opt.init(p), examples[I]...), names_from(2)),
                          {{"0", "params"}, {"1", "state"}, {"2", "loss"}});
  };
  if constexpr (std::is_same_v<std::decay_t<std::invoke_result_t<F, Params, TensorFor<I>..., decltype(std::get<N + J>(all))...>>,
                               Tensor>) {
    m.apply = [=, name = m.name](Params p, const std::vector<Tensor>& x) {
      if (x.size() != N)
        throw Error(fmt::format("model '{}' takes {} input{}, but was given {}", name, N, N == 1 ? "" : "s", x.size()));
      return f(p, x[I]..., std::get<J>(hyper)...);
    };
  }
  m.with_input_shapes = [=, name = m.name](const std::vector<Shape>& shapes) {
    if (shapes.size() != N)
      throw Error(fmt::format("model '{}' takes {} input{}, but {} input shape{} given", name, N, N == 1 ? "" : "s",
                              shapes.size(), shapes.size() == 1 ? " was" : "s were"));
    Tuple resized = all;
    ((std::get<I>(resized).shape = shapes[I]), ...);
    return describe_model<N>(name, f, resized, std::index_sequence<I...>{}, std::index_sequence<J...>{});
  };
  return m;
}

}  // namespace detail

/// A model entry from the function, its input specs and its hyper-parameters (see the top).
template <class F, class... Rest>
RegisteredModel describe_model(std::string name, F f, Rest... rest) {
  constexpr size_t inputs = detail::leading_specs<Rest...>();
  return detail::describe_model<inputs>(std::move(name), f, std::make_tuple(rest...),
                                        std::make_index_sequence<inputs>{},
                                        std::make_index_sequence<sizeof...(Rest) - inputs>{});
}

}  // namespace zephyr

#define ZEPHYR_MODEL_CONCAT_(a, b) a##b
#define ZEPHYR_MODEL_CONCAT(a, b) ZEPHYR_MODEL_CONCAT_(a, b)
/// Registers `fn` as the model `name` (an identifier) with input specs and hyper-parameters.
#define ZEPHYR_MODEL(name, fn, ...)                                                            \
  [[maybe_unused]] static const bool ZEPHYR_MODEL_CONCAT(zephyr_model_registered_, __LINE__) = \
      ::zephyr::register_model(::zephyr::describe_model(#name, fn, __VA_ARGS__))
