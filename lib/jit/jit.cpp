#include "zephyr/jit.h"

#include <algorithm>

namespace zephyr::detail {

std::string signature_of(const ParamTree& tree) {
  std::string s = "tree{";
  for (const auto& [path, array] : tree) s += path + ":" + describe(array.dtype(), array.shape()) + ",";
  return s + "}";
}

std::string signature_of(const Array& array) { return describe(array.dtype(), array.shape()); }

Params Binder::bind(const ParamTree& tree, size_t index) {
  auto scope = ParamScope::binding(tree, fmt::format("argument {}", index));
  sources_.push_back({index, scope, {}});
  return Params(scope, "");
}

Tensor Binder::bind(const Array& array, size_t index) {
  if (!array.defined()) throw Error(fmt::format("[jit] argument {} is an empty Array", index));
  Tensor input = symbolic_input(array, "arg" + std::to_string(index));
  sources_.push_back({index, nullptr, input});
  return input;
}

Function Binder::function(const std::vector<Tensor>& results, std::vector<Compiled::Slot>* slots) const {
  Function fn;
  // Function arguments follow the call's order, whatever order the stand-ins were built in.
  std::vector<Source> sources = sources_;
  std::sort(sources.begin(), sources.end(), [](const Source& a, const Source& b) { return a.argument < b.argument; });
  for (const Source& source : sources) {
    if (source.scope) {
      for (const auto& leaf : source.scope->leaves()) {
        fn.arguments.push_back(leaf.tensor.node());
        if (slots) slots->push_back({source.argument, leaf.tree_index});
      }
    } else {
      fn.arguments.push_back(source.input.node());
      if (slots) slots->push_back({source.argument, 0});
    }
  }
  for (const Tensor& r : results) {
    if (!r.defined()) throw Error("[jit] the function returned an empty Tensor");
    fn.results.push_back(r.node());
  }
  return fn;
}

Compiled Binder::finish(const std::vector<Tensor>& results, const compiler::Options& options) const {
  Compiled compiled;
  Function fn = function(results, &compiled.slots);
  for (const Tensor& r : results) compiled.results.push_back({r.shape(), r.dtype()});
  compiled.executable = compiler::compile(fn, options);
  return compiled;
}

std::vector<Array> Compiled::run(const std::vector<ArgRef>& args) const {
  std::vector<void*> pointers;
  pointers.reserve(slots.size());
  for (const Slot& slot : slots) {
    const ArgRef& ref = args[slot.argument];
    const Array& a = std::holds_alternative<const Array*>(ref)
                         ? *std::get<const Array*>(ref)
                         : std::get<const ParamTree*>(ref)->leaves()[slot.tree_index].second;
    // Compiled code never writes its inputs; the cast only matches the C calling convention.
    pointers.push_back(const_cast<void*>(a.raw()));
  }
  std::vector<Array> outputs;
  std::vector<void*> out_pointers;
  for (const auto& [shape, dtype] : results) {
    outputs.emplace_back(shape, dtype);
    out_pointers.push_back(outputs.back().raw());
  }
  executable->run(pointers.data(), out_pointers.data());
  return outputs;
}

std::string describe_arguments(const std::vector<ArgRef>& args) {
  std::vector<std::string> parts;
  for (size_t i = 0; i < args.size(); ++i) {
    if (auto* tree = std::get_if<const ParamTree*>(&args[i]))
      parts.push_back(fmt::format("argument {}: ParamTree with {} leaves", i, (*tree)->size()));
    else if (auto* array = std::get_if<const Array*>(&args[i]))
      parts.push_back(fmt::format("argument {}: {}", i, describe((*array)->dtype(), (*array)->shape())));
  }
  return fmt::format("{}", fmt::join(parts, "; "));
}

void rethrow_with_arguments(const Error& error, const std::vector<ArgRef>& args) {
  throw Error(fmt::format("{}\n  while tracing the jit call with {}", error.what(), describe_arguments(args)));
}

}  // namespace zephyr::detail
