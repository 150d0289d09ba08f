#include "run.h"

#include "weights.h"

#include <fmt/format.h>
#include <zephyr/registry.h>
#include <zephyr/zephyr.h>

#include <algorithm>

namespace zephyr::cli {

void run(const RunOptions& o) {
  const RegisteredModel& model = find_registered_model(o.model);
  ParamTree like = model.trace(random::key(0));
  ParamTree params = load_weights(o.params, like);
  io::NamedArrays inputs = io::load_safetensors(o.inputs);
  Function fn = o.grad ? model.grad(params) : model.forward(params);

  // Argument pointers in the function's order: parameter leaves by path, inputs by name.
  std::vector<void*> arguments;
  for (const NodePtr& a : fn.arguments) {
    const std::string& name = a->attrs.name;
    const Array* found = nullptr;
    for (const auto& [path, array] : params)
      if (path == name) found = &array;
    auto input = std::find_if(inputs.begin(), inputs.end(), [&](const auto& t) { return t.first == name; });
    if (!found && input != inputs.end()) found = &input->second;
    if (!found) throw Error(fmt::format("{}: no tensor named '{}' (the model's input {})", o.inputs, name, describe(a->dtype, a->shape)));
    if (found->shape() != a->shape || found->dtype() != a->dtype)
      throw Error(fmt::format("'{}' is {} in the files but the model takes {}", name, describe(found->dtype(), found->shape()),
                              describe(a->dtype, a->shape)));
    arguments.push_back(const_cast<void*>(found->raw()));  // compiled code does not write its inputs
  }

  io::NamedArrays results;
  std::vector<void*> pointers;
  for (size_t i = 0; i < fn.results.size(); ++i) {
    std::string name = o.grad ? (i == 0 ? "loss" : "grads/" + params.leaves()[i - 1].first)
                              : (fn.results.size() == 1 ? "y" : fmt::format("out{}", i));
    results.push_back({name, Array(fn.results[i]->shape, fn.results[i]->dtype)});
  }
  for (auto& [name, array] : results) pointers.push_back(array.raw());
  compiler::compile(fn)->run(arguments.data(), pointers.data());
  io::save_safetensors(o.output, results, {{"model", o.model}, {"function", o.grad ? "grad" : "forward"}});
  fmt::print("wrote {} result{} to {}\n", results.size(), results.size() == 1 ? "" : "s", o.output);
}

}  // namespace zephyr::cli
