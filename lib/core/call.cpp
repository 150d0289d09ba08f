// Calling a traced function: binding arguments to symbolic stand-ins, building the Function,
// running whatever Executable a backend made of it, and checking its run-time checks. Nothing
// here compiles: the interpreter backend lives here too, the compiler's in lib/jit.
#include "zephyr/jit.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "env.h"

namespace zephyr::detail {

std::string signature_of(const ParamTree& tree) {
  std::string s = "tree{";
  for (const auto& [path, array] : tree) s += path + ":" + describe(array.dtype(), array.shape()) + ",";
  return s + "}";
}

std::string signature_of(const Array& array) { return describe(array.dtype(), array.shape()); }

namespace {
void append_u64(std::string& key, uint64_t v) { key.append(reinterpret_cast<const char*>(&v), sizeof v); }
}  // namespace

void append_key(std::string& key, const Array& array) {
  key.push_back('A');
  key.push_back(static_cast<char>(array.dtype()));
  append_u64(key, array.shape().size());
  key.append(reinterpret_cast<const char*>(array.shape().data()), array.shape().size() * sizeof(int64_t));
}

void append_key(std::string& key, const ParamTree& tree) {
  // Sized once, then written in place: this runs on every call, and appending piece by piece
  // checked the capacity a dozen times per leaf.
  size_t bytes = 1 + sizeof(uint64_t);
  for (const auto& [path, array] : tree)
    bytes += sizeof(uint64_t) + path.size() + 2 + sizeof(uint64_t) + array.shape().size() * sizeof(int64_t);
  size_t at = key.size();
  key.resize(at + bytes);
  char* out = key.data() + at;
  auto put = [&out](const void* data, size_t n) {
    if (n == 0) return;  // a scalar's shape has no data() to copy from (nullptr)
    std::memcpy(out, data, n);
    out += n;
  };
  auto put_u64 = [&put](uint64_t v) { put(&v, sizeof v); };
  *out++ = 'T';
  put_u64(tree.size());
  for (const auto& [path, array] : tree) {
    put_u64(path.size());
    put(path.data(), path.size());
    *out++ = 'A';  // as append_key(key, array)
    *out++ = static_cast<char>(array.dtype());
    put_u64(array.shape().size());
    put(array.shape().data(), array.shape().size() * sizeof(int64_t));
  }
}

void append_key_text(std::string& key, const std::string& text) {
  key.push_back('C');
  append_u64(key, text.size());
  key += text;
}

std::string argument_name(size_t index) { return "arg" + std::to_string(index); }

Params Binder::bind(const ParamTree& tree, size_t index) {
  auto scope = ParamScope::binding(tree, fmt::format("argument {}", index));
  sources_.push_back({index, scope, {}});
  return Params(scope, "");
}

Tensor Binder::bind(const Array& array, size_t index) {
  if (!array.defined()) throw Error(fmt::format("[jit] argument {} is an empty Array", index));
  Tensor input = symbolic_input(array, argument_name(index));
  sources_.push_back({index, nullptr, {input}});
  return input;
}

std::vector<Tensor> Binder::bind(const std::vector<Array>& arrays, size_t index) {
  std::vector<Tensor> inputs;
  for (size_t i = 0; i < arrays.size(); ++i) {
    if (!arrays[i].defined()) throw Error(fmt::format("[jit] argument {}[{}] is an empty Array", index, i));
    inputs.push_back(symbolic_input(arrays[i], fmt::format("{}_{}", argument_name(index), i)));
  }
  sources_.push_back({index, nullptr, inputs});
  return inputs;
}

Function Binder::function(const Flat& results, std::vector<Compiled::Slot>* slots) const {
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
      for (size_t i = 0; i < source.inputs.size(); ++i) {
        fn.arguments.push_back(source.inputs[i].node());
        if (slots) slots->push_back({source.argument, i});
      }
    }
  }
  for (size_t i = 0; i < results.tensors.size(); ++i)
    if (results.tensors[i].defined()) {
      fn.results.push_back(results.tensors[i].node());
      fn.result_names.push_back(results.names[i]);
    }
  return fn;
}

namespace {
// The interpreter behind the Executable interface: arguments and results are the dense buffers
// of the function's argument and result nodes.
class Interpreted final : public compiler::Executable {
 public:
  Interpreted(Function fn, InterpretOptions options) : fn_(std::move(fn)), options_(options) {}
  void run(void* const* arguments, void* const* results) const override {
    std::vector<Array> inputs;
    for (size_t i = 0; i < fn_.arguments.size(); ++i) {
      const Node& a = *fn_.arguments[i];
      Array input(a.shape, a.dtype);
      std::memcpy(input.raw(), arguments[i], input.nbytes());
      inputs.push_back(std::move(input));
    }
    std::vector<Array> outputs = interpret(fn_, inputs, options_);
    for (size_t j = 0; j < outputs.size(); ++j) std::memcpy(results[j], outputs[j].raw(), outputs[j].nbytes());
  }
  double compile_seconds() const override { return 0; }
  compiler::CompileStats stats() const override { return {}; }

 private:
  Function fn_;
  InterpretOptions options_;
};
}  // namespace

Backend interpreter_backend(const InterpretOptions& options) {
  return [options](const Function& fn) -> std::shared_ptr<compiler::Executable> {
    return std::make_shared<Interpreted>(fn, options);
  };
}

Compiled Binder::finish(Flat results, const std::vector<RuntimeCheck>& checks, const Backend& backend) const {
  Compiled compiled;
  for (size_t i = 0; i < checks.size(); ++i) {  // a check is a result named "checks/<i>"
    compiled.checks.push_back({results.tensors.size(), checks[i]});
    results.push(checks[i].failures, fmt::format("checks/{}", i));
  }
  for (size_t i = 0; i < results.tensors.size(); ++i)
    if (!results.tensors[i].defined() && results.paths[i] != "{" && results.paths[i] != "}")
      throw Error("[jit] the function returned an empty Tensor");
  Function fn = function(results, &compiled.slots);
  for (const Tensor& r : results.tensors)
    compiled.results.push_back(r.defined() ? std::pair{r.shape(), r.dtype()} : std::pair{Shape{}, DType::bool_});
  compiled.result_paths = results.paths;
  for (const std::string& path : results.paths) compiled.markers.push_back(path == "{" || path == "}");
  compiled.executable = backend(fn);
  return compiled;
}

void Compiled::verify(const std::vector<Array>& arrays) const {
  for (const auto& [index, check] : checks) {
    int32_t failures = arrays[index].item<int32_t>();
    if (failures <= 0) continue;
    const std::string count = fmt::format("{}{}", check.at_least ? "at least " : "", failures);
    if (check.size < 0) throw Error(fmt::format("{} ({} elements, over the loop's steps)", check.message, count));
    throw Error(fmt::format("{} ({} of {} elements)", check.message, count, check.size));
  }
}

namespace {

// The Array a compiled argument slot reads from the call's arguments.
const Array& argument_array(std::span<const ArgRef> args, const Compiled::Slot& slot) {
  const ArgRef& ref = args[slot.argument];
  if (auto* array = std::get_if<const Array*>(&ref)) return **array;
  if (auto* tree = std::get_if<const ParamTree*>(&ref)) return (*tree)->leaves()[slot.tree_index].second;
  return (*std::get<const std::vector<Array>*>(ref))[slot.tree_index];
}

// One new Array per result (undefined for the tree markers) into `outputs`, their buffers
// appended to `pointers`.
void result_arrays(const Compiled& entry, std::vector<Array>& outputs, std::vector<void*>& pointers) {
  outputs.clear();
  outputs.reserve(entry.results.size());
  for (size_t i = 0; i < entry.results.size(); ++i) {
    outputs.push_back(entry.markers[i] ? Array() : Array(entry.results[i].first, entry.results[i].second));
    if (!entry.markers[i]) pointers.push_back(outputs.back().raw());
  }
}

}  // namespace

void Compiled::run(std::span<const ArgRef> args, std::vector<Array>& outputs) const {
  // Reused across calls (run() never nests): a batch-1 call is a few hundred nanoseconds, and
  // two heap allocations were a visible share of that.
  thread_local std::vector<void*> pointers, out_pointers;
  pointers.clear();
  out_pointers.clear();
  for (const Slot& slot : slots)  // compiled code never writes its inputs: the cast only fits the C ABI
    pointers.push_back(const_cast<void*>(argument_array(args, slot).raw()));
  result_arrays(*this, outputs, out_pointers);
  executable->run(pointers.data(), out_pointers.data());
}

namespace {

// Relays a schedule's "result j is final" to a ResultListener, which knows the returned results
// only. The executable's results are the Flat entries without the tree markers, so both count
// the returned results alike; the run-time checks follow them, and are not told of.
class Relay final : public compiler::RunListener {
 public:
  Relay(const Compiled& entry, const std::vector<Array>& outputs, ResultListener& listener) : listener_(listener) {
    const size_t returned = entry.checks.empty() ? entry.results.size() : entry.checks.front().first;
    for (size_t i = 0; i < returned; ++i) {
      const std::string& path = entry.result_paths[i];
      if (entry.markers[i]) continue;
      results_.push_back(outputs[i]);
      paths_.push_back(path);
    }
    heard_.assign(results_.size(), false);
    listener_.start(results_, paths_);
  }
  void ready(size_t executable_result) override {
    if (executable_result >= heard_.size() || heard_[executable_result]) return;  // a check's result
    heard_[executable_result] = true;
    listener_.ready(executable_result);
  }
  void between_kernels() override { listener_.between_kernels(); }
  // After the run: whatever the executable did not tell of is final now.
  void rest() {
    for (size_t i = 0; i < heard_.size(); ++i) ready(i);
  }

 private:
  ResultListener& listener_;
  std::vector<Array> results_;
  std::vector<std::string> paths_;
  std::vector<bool> heard_;
};

}  // namespace

std::vector<Array> Compiled::run(std::span<const ArgRef> args, ResultListener& listener) const {
  std::vector<void*> pointers, out_pointers;
  for (const Slot& slot : slots) pointers.push_back(const_cast<void*>(argument_array(args, slot).raw()));
  std::vector<Array> outputs;
  result_arrays(*this, outputs, out_pointers);
  Relay relay(*this, outputs, listener);
  executable->run(pointers.data(), out_pointers.data(), relay);
  relay.rest();
  return outputs;
}

BoundCall::BoundCall(std::shared_ptr<const Compiled> entry, std::span<const ArgRef> args) : entry_(std::move(entry)) {
  std::vector<void*> in, out;
  for (const Compiled::Slot& slot : entry_->slots) {
    inputs_.push_back(argument_array(args, slot));
    in.push_back(const_cast<void*>(inputs_.back().raw()));  // never written: see Compiled::run
  }
  result_arrays(*entry_, outputs_, out);
  run_ = entry_->executable->bind(std::move(in), std::move(out));
}

void BoundCall::run() {
  run_->run();
  entry_->verify(outputs_);
}

std::string describe_arguments(std::span<const ArgRef> args) {
  std::vector<std::string> parts;
  for (size_t i = 0; i < args.size(); ++i) {
    if (auto* tree = std::get_if<const ParamTree*>(&args[i]))
      parts.push_back(fmt::format("argument {}: ParamTree with {} leaves", i, (*tree)->size()));
    else if (auto* array = std::get_if<const Array*>(&args[i]))
      parts.push_back(fmt::format("argument {}: {}", i, describe((*array)->dtype(), (*array)->shape())));
    else if (auto* arrays = std::get_if<const std::vector<Array>*>(&args[i]))
      parts.push_back(fmt::format("argument {}: {} arrays", i, (*arrays)->size()));
  }
  return fmt::format("{}", fmt::join(parts, "; "));
}

size_t jit_cache_capacity() {
  static const size_t capacity = [] {
    const char* v = std::getenv("ZEPHYR_JIT_CACHE_SIZE");
    const long n = v ? std::atol(v) : 0;
    return n >= 1 ? static_cast<size_t>(n) : size_t{256};
  }();
  return capacity;
}

uint64_t new_jit_state_id() {
  static std::atomic<uint64_t> last{0};
  return last.fetch_add(1, std::memory_order_relaxed) + 1;  // 0 is a memo that names no state
}

void log_compile(std::span<const ArgRef> args, const std::string& key, double seconds) {
  static const bool enabled = env_flag("ZEPHYR_LOG_COMPILES");
  if (!enabled) return;
  // Constants are part of the key; arrays and trees are summarized.
  std::string constants;
  size_t start = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    size_t end = key.find(';', start);
    if (std::holds_alternative<std::monostate>(args[i])) constants += fmt::format(" argument {}={}", i, key.substr(start, end - start));
    start = end + 1;
  }
  fmt::print(stderr, "[zephyr] compiled in {:.0f} ms: {}{}\n", seconds * 1e3, describe_arguments(args), constants);
}

void RecompileTracker::compiled(std::span<const ArgRef> args, const std::string& signatures,
                                std::span<const bool> floating) {
  std::vector<std::string> now;
  for (size_t start = 0, end; (end = signatures.find(';', start)) != std::string::npos; start = end + 1)
    now.push_back(signatures.substr(start, end - start));
  if (now.size() != args.size()) return;  // a signature holding ';' itself: nothing to compare
  // A float's signature is its exact bits in hex ("0x1.8p+1"); people read 3.
  for (size_t i = 0; i < now.size(); ++i)
    if (floating[i]) now[i] = fmt::format("{}", std::strtod(now[i].c_str(), nullptr));
  values_.resize(args.size());
  std::vector<std::string> changed;
  for (size_t i = 0; i < args.size(); ++i) {
    if (!std::holds_alternative<std::monostate>(args[i])) continue;  // arrays and trees: shapes
    auto& seen = values_[i];
    if (std::find(seen.begin(), seen.end(), now[i]) == seen.end()) seen.push_back(now[i]);
    if (previous_.size() == now.size() && previous_[i] != now[i])
      changed.push_back(fmt::format("argument {} was {}, now {}", i, previous_[i], now[i]));
  }
  static const bool log = env_flag("ZEPHYR_LOG_COMPILES");
  if (log && !changed.empty()) fmt::print(stderr, "[zephyr] compiled again because {}\n", fmt::join(changed, "; "));
  previous_ = std::move(now);
  if (warned_) return;
  for (size_t i = 0; i < values_.size(); ++i) {
    if (!floating[i] || values_[i].size() < kRecompileWarning) continue;
    warned_ = true;
    const char* quiet = std::getenv("ZEPHYR_WARN_RECOMPILES");
    if (quiet && std::string_view(quiet) == "0") return;
    fmt::print(stderr,
               "[zephyr] warning: a jitted function has compiled {} times because its plain argument {} changed "
               "({}, ...). A plain argument is a compile-time constant: pass a value that changes as an Array "
               "(z::Array::scalar(v)) to compile once. ZEPHYR_LOG_COMPILES=1 logs every compile; "
               "ZEPHYR_WARN_RECOMPILES=0 silences this.\n",
               values_[i].size(), i, fmt::join(values_[i], ", "));
    return;
  }
}

void rethrow_with_arguments(const Error& error, std::span<const ArgRef> args) {
  throw Error(fmt::format("{}\n  while tracing the jit call with {}", error.what(), describe_arguments(args)));
}

}  // namespace zephyr::detail
