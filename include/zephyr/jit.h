// jit: compile a C++ model function to native code, once per distinct argument signature.
#pragma once

#include <fmt/format.h>

#include <array>
#include <atomic>
#include <functional>
#include <future>
#include <iterator>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <variant>
#include <vector>

#include "zephyr/checks.h"
#include "zephyr/compiler.h"
#include "zephyr/interpret.h"
#include "zephyr/params.h"
#include "zephyr/result_listener.h"
#include "zephyr/tensor_tree.h"
#include "zephyr/trace.h"

namespace zephyr {
namespace detail {

// ---- Cache keys: argument structure plus the values of compile-time constants ----------------
// A call's key is built on every call, so it is binary (dtype, rank, extents, tree paths; no
// formatting). Constants enter as their text, length-prefixed.
void append_key(std::string& key, const ParamTree& tree);
void append_key(std::string& key, const Array& array);
void append_key_text(std::string& key, const std::string& text);
/// The name a traced function's Array argument at call position `index` gets ("arg<index>").
std::string argument_name(size_t index);
template <class T>
std::string signature_of(const T& value);
template <class T>
concept ArrayRange = requires(const T& v) {
  v.size();
  requires std::is_same_v<std::remove_cvref_t<decltype(*v.begin())>, Array>;
};
template <class T>
void append_key(std::string& key, const T& value) {
  if constexpr (ArrayRange<T>) {
    append_key_text(key, "vector of " + std::to_string(value.size()));
    for (const Array& a : value) append_key(key, a);
  } else {
    append_key_text(key, signature_of(value));
  }
}
/// A repeated call's short key: a tree as its layout id (0: none, the call takes the full key),
/// anything else as in its full key. Equal short keys mean equal full keys.
inline bool append_short_key(std::string& key, const ParamTree& tree) {
  const uint64_t id = tree.layout_id();
  key.push_back('L');
  key.append(reinterpret_cast<const char*>(&id), sizeof id);
  return id != 0;
}
template <class T>
bool append_short_key(std::string& key, const T& value) {
  append_key(key, value);
  return true;
}

// Readable signatures, for messages (ZEPHYR_LOG_COMPILES).
std::string signature_of(const ParamTree& tree);
std::string signature_of(const Array& array);
template <class T>
std::string signature_of(const T& value) {
  if constexpr (std::is_enum_v<T>) return fmt::format("enum:{}", static_cast<std::underlying_type_t<T>>(value));
  else if constexpr (std::is_same_v<T, bool>) return value ? "true" : "false";
  else if constexpr (std::is_floating_point_v<T>) return fmt::format("{:a}", value);  // exact bits
  else if constexpr (std::is_integral_v<T>) return fmt::format("{}", value);
  else if constexpr (std::is_convertible_v<T, std::string>) return fmt::format("'{}'", std::string(value));
  else if constexpr (requires { value.begin(); value.end(); }) {
    std::string s = "{";
    for (const auto& v : value) s += signature_of(v) + ",";
    return s + "}";
  } else {
    static_assert(sizeof(T) == 0, "jit arguments must be ParamTree, Array, or plain values (arithmetic, "
                                  "bool, enums, strings, ranges of them)");
  }
}

// ---- Results: the values a model returns, flattened to Tensors and rebuilt as Arrays ---------
// `Flat` carries the leaves and, for trees, their paths (known only once the model has run).
// `build` moves the Arrays it returns out of `arrays`.
// `names` says where each leaf sits in the returned value ("0/dense/weights": element 0 of a
// tuple, that path of its tree), which is how AOT headers name results.
struct Flat {
  std::vector<Tensor> tensors;
  std::vector<std::string> paths;
  std::vector<std::string> names;
  std::string prefix;  // of the element being flattened
  void push(const Tensor& t, std::string path = {}) {
    tensors.push_back(t);
    names.push_back(prefix.empty() || path.empty() ? prefix + path : prefix + "/" + path);
    paths.push_back(std::move(path));
  }
  // Flattens `flatten_element` under "<prefix>/<index>".
  template <class G> void element(size_t index, G&& flatten_element) {
    std::string outer = prefix;
    prefix = outer.empty() ? std::to_string(index) : outer + "/" + std::to_string(index);
    flatten_element();
    prefix = std::move(outer);
  }
};
template <class R> struct Results;
template <class... T> inline constexpr bool always_false = false;  // for static_assert in a discarded branch
// What a jitted function may return (Results has a specialization for each).
template <class R> inline constexpr bool returnable = std::is_same_v<R, Tensor> || std::is_same_v<R, std::vector<Tensor>> ||
                                                      std::is_same_v<R, TensorTree>;
template <class... Ts> inline constexpr bool returnable<std::tuple<Ts...>> = (returnable<std::decay_t<Ts>> && ...);
template <class A, class B> inline constexpr bool returnable<std::pair<A, B>> = returnable<A> && returnable<B>;
template <> struct Results<Tensor> {
  using Out = Array;
  static void flatten(const Tensor& t, Flat& out) { out.push(t); }
  static Out build(std::vector<Array>& arrays, const std::vector<std::string>&, size_t& i) { return std::move(arrays[i++]); }
};
template <> struct Results<std::vector<Tensor>> {
  using Out = std::vector<Array>;
  static void flatten(const std::vector<Tensor>& ts, Flat& out) {
    for (size_t i = 0; i < ts.size(); ++i) out.element(i, [&] { out.push(ts[i]); });
  }
  static Out build(std::vector<Array>& arrays, const std::vector<std::string>&, size_t& i) {
    Out out(std::make_move_iterator(arrays.begin() + static_cast<std::ptrdiff_t>(i)),
            std::make_move_iterator(arrays.end()));
    i = arrays.size();
    return out;
  }
};
template <> struct Results<TensorTree> {
  using Out = ParamTree;
  static void flatten(const TensorTree& tree, Flat& out) {
    out.push(Tensor(), "{");  // marks where the tree starts, so an empty tree round-trips
    for (const auto& [path, t] : tree) out.push(t, path);
    out.push(Tensor(), "}");
  }
  static Out build(std::vector<Array>& arrays, const std::vector<std::string>& paths, size_t& i) {
    std::vector<ParamTree::Leaf> leaves;
    ++i;  // "{"
    while (paths[i] != "}") {
      leaves.push_back({paths[i], std::move(arrays[i])});
      ++i;
    }
    ++i;  // "}"
    return ParamTree(std::move(leaves));
  }
};
template <class... Ts> struct Results<std::tuple<Ts...>> {
  using Out = std::tuple<typename Results<Ts>::Out...>;
  static void flatten(const std::tuple<Ts...>& t, Flat& out) {
    size_t i = 0;
    std::apply([&](const auto&... e) {
      (out.element(i++, [&] { Results<std::decay_t<decltype(e)>>::flatten(e, out); }), ...);
    }, t);
  }
  static Out build(std::vector<Array>& arrays, const std::vector<std::string>& paths, size_t& i) {
    return Out{Results<Ts>::build(arrays, paths, i)...};  // braced lists evaluate left to right
  }
};
template <class A, class B> struct Results<std::pair<A, B>> {
  using Out = std::pair<typename Results<A>::Out, typename Results<B>::Out>;
  static void flatten(const std::pair<A, B>& p, Flat& out) {
    out.element(0, [&] { Results<A>::flatten(p.first, out); });
    out.element(1, [&] { Results<B>::flatten(p.second, out); });
  }
  static Out build(std::vector<Array>& arrays, const std::vector<std::string>& paths, size_t& i) {
    return Out{Results<A>::build(arrays, paths, i), Results<B>::build(arrays, paths, i)};
  }
};

/// One jit call's view of its arguments: trees and arrays by position, nullptr for constants.
using ArgRef = std::variant<std::monostate, const ParamTree*, const Array*, const std::vector<Array>*>;
template <class T> ArgRef arg_ref(const T& value) {
  if constexpr (std::is_same_v<T, ParamTree> || std::is_same_v<T, Array> || std::is_same_v<T, std::vector<Array>>)
    return &value;
  else return std::monostate{};
}

/// A compiled entry: code plus where each function argument comes from.
struct Compiled {
  struct Slot {
    size_t argument;    // position in the call
    size_t tree_index;  // leaf position in a ParamTree argument, element in a vector of Arrays
  };
  std::shared_ptr<compiler::Executable> executable;
  std::vector<Slot> slots;
  std::vector<std::pair<Shape, DType>> results;
  std::vector<std::string> result_paths;  // Flat::paths of the traced results
  std::vector<bool> markers;              // per result: a tree marker ("{" or "}"), not an array
  std::vector<std::pair<size_t, RuntimeCheck>> checks;  // each run-time check and its result index
  /// Throws the message of the first run-time check that failed.
  void verify(const std::vector<Array>& arrays) const;
  /// One Array per Flat entry (undefined for the tree markers), into `outputs` (emptied first:
  /// a caller that reuses it allocates no vector per call).
  void run(std::span<const ArgRef> args, std::vector<Array>& outputs) const;
  /// run, telling `listener` of the returned results (not the markers or checks) as they are computed.
  std::vector<Array> run(std::span<const ArgRef> args, ResultListener& listener) const;
};

/// A compiled entry bound to one call's arrays (Jitted::prepare): where each argument and result
/// lives is worked out once, so a call is the code and the run-time checks, nothing else.
class BoundCall {
 public:
  BoundCall(std::shared_ptr<const Compiled> entry, std::span<const ArgRef> args);
  /// Runs the code on what the bound arrays hold now, into the same result arrays every time.
  void run();
  /// The result arrays, one per Flat entry.
  std::vector<Array>& outputs() { return outputs_; }
  const std::vector<std::string>& result_paths() const { return entry_->result_paths; }

 private:
  std::shared_ptr<const Compiled> entry_;
  std::vector<Array> inputs_;  // handles on the bound arrays, which keep their buffers alive
  std::vector<Array> outputs_;
  std::unique_ptr<compiler::BoundRun> run_;  // on inputs_ and outputs_; owns its own arena
};

/// What turns a traced Function into code that runs: the compiler (jit) or the reference
/// interpreter (interpret).
using Backend = std::function<std::shared_ptr<compiler::Executable>(const Function&)>;
Backend compiler_backend(const compiler::Options& options);
Backend interpreter_backend(const InterpretOptions& options);

/// Symbolic stand-ins for one call, recorded so the Function's arguments can be listed.
class Binder {
 public:
  Params bind(const ParamTree& tree, size_t index);
  Tensor bind(const Array& array, size_t index);
  std::vector<Tensor> bind(const std::vector<Array>& arrays, size_t index);
  template <class T> T&& bind(T&& value, size_t) { return std::forward<T>(value); }
  /// The traced Function: the stand-ins as arguments (in call order) and the defined `results`,
  /// named by their place in the returned value. `slots` (optional) receives where each argument
  /// comes from in the call.
  Function function(const Flat& results, std::vector<Compiled::Slot>* slots = nullptr) const;
  /// Builds function(results), plus the run-time checks as extra results, into an entry.
  Compiled finish(Flat results, const std::vector<RuntimeCheck>& checks, const Backend& backend) const;

 private:
  struct Source {
    size_t argument;
    std::shared_ptr<ParamScope> scope;  // set for trees
    std::vector<Tensor> inputs;         // set for arrays (one) and vectors of arrays
  };
  std::vector<Source> sources_;
};

std::string describe_arguments(std::span<const ArgRef> args);
/// With ZEPHYR_LOG_COMPILES=1 in the environment, says on stderr what was compiled and how long
/// it took: a recompile then shows which signature caused it.
void log_compile(std::span<const ArgRef> args, const std::string& key, double seconds);
/// Which plain arguments made a jitted function compile again (as jax.log_compiles explains
/// cache misses). A plain argument is a compile-time constant, so a value that changes call to
/// call (a learning rate as a double) compiles each time: the first time one floating-point
/// argument has compiled kRecompileWarning distinct values, one warning names it and shows the
/// way out (ZEPHYR_WARN_RECOMPILES=0 silences it). Integers, vectors and strings that vary are
/// usually meant (sizes, axes), so only ZEPHYR_LOG_COMPILES=1, which says for every compile
/// which arguments changed, reports them.
class RecompileTracker {
 public:
  static constexpr size_t kRecompileWarning = 4;
  /// After a compile: the call's arguments and their signatures, each followed by ';'.
  /// `floating[i]`: argument i is a float or double.
  void compiled(std::span<const ArgRef> args, const std::string& signatures, std::span<const bool> floating);
  bool warned() const { return warned_; }

 private:
  std::vector<std::string> previous_;              // per argument, at the last compile
  std::vector<std::vector<std::string>> values_;   // per plain argument: its distinct compiled values
  bool warned_ = false;
};
/// Signatures a jitted function keeps compiled: ZEPHYR_JIT_CACHE_SIZE, else 256.
size_t jit_cache_capacity();
/// A new id for a Jitted's cache, never reused (unlike an address): what a thread's memo of its
/// last call names.
uint64_t new_jit_state_id();
/// Adds the call's argument signature to an error raised while tracing, naming every argument.
[[noreturn]] void rethrow_with_arguments(const Error& error, std::span<const ArgRef> args);

}  // namespace detail

/// What a jitted function's signature cache holds and has done (Jitted::cache_stats).
struct JitCacheStats {
  /// \var entries
  /// Signatures held now, compiled or still compiling.
  /// \var capacity
  /// Most signatures kept (set_cache_capacity, ZEPHYR_JIT_CACHE_SIZE, else 256).
  /// \var hits
  /// Calls whose signature was already held.
  /// \var compiles
  /// Compiles done, one per signature compiled (again after an eviction).
  /// \var evictions
  /// Signatures dropped, least recently called first, to stay within the capacity.
  size_t entries = 0, capacity = 0, hits = 0, compiles = 0, evictions = 0;
};

/// Jitted::prepare's result: one signature's code bound to one set of arrays. Each call runs on
/// what those arrays hold at that moment (write new inputs into them: `x.data<float>()[0] = v`),
/// with no signature lookup, lock or allocation, and returns the results,
/// whose buffers the next call overwrites. A tree or array replaced by a new one (a new optimizer
/// step's params) is not seen: prepare again. One thread at a time.
template <class R>
class Prepared {
 public:
  /// What a call returns: the jit call's result type (Array, ParamTree, a tuple of them...).
  using Out = typename detail::Results<R>::Out;
  /// Made by Jitted::prepare.
  explicit Prepared(detail::BoundCall call) : call_(std::move(call)), out_(results(call_)) {}
  /// Runs the code and returns its results (the same arrays every call, rewritten: copying an
  /// Array copies its shape, which allocates); throws as a jit call does when a check fails.
  const Out& operator()() {
    call_.run();
    return out_;
  }

 private:
  static Out results(detail::BoundCall& call) {
    size_t i = 0;
    std::vector<Array> handles = call.outputs();  // build moves them out: call_ keeps its own
    return detail::Results<R>::build(handles, call.result_paths(), i);
  }
  detail::BoundCall call_;
  Out out_;  // handles on call_'s result buffers
};

/// A jit-compiled function. Calls take ParamTree where the model takes Params, Array where it
/// takes Tensor (std::vector<Array> for std::vector<Tensor>), and plain values (compile-time constants, part of the cache key) as they are.
template <class F>
class Jitted {
 public:
  /// Compiles through the MLIR compiler with `options`.
  explicit Jitted(F f, compiler::Options options = {}) : Jitted(std::move(f), detail::compiler_backend(options)) {}
  /// Runs each traced Function through `backend` (the compiler, or the interpreter for z::interpret).
  Jitted(F f, detail::Backend backend) : f_(std::move(f)), backend_(std::move(backend)) {}

  /// Binds these arguments once (compiling their signature if it is new) for calls that only
  /// run the code: `auto run = f.prepare(params, x); run();` (see Prepared).
  template <class... Args>
  auto prepare(const Args&... args) const {
    static_assert(std::is_invocable_v<const F&, decltype(bound_type(args))...>,
                  "z::jit(...).prepare: the function cannot take these arguments (see the jit call's message)");
    using R = std::decay_t<std::invoke_result_t<const F&, decltype(bound_type(args))...>>;
    const std::array<detail::ArgRef, sizeof...(Args)> refs{detail::arg_ref(args)...};
    return Prepared<R>(detail::BoundCall(entry_for(args...), refs));
  }

  /// A call that tells `listener` of each result as soon as the code has computed it, while
  /// later kernels still run (see ResultListener): `auto [grads, loss] = step.streamed(mean,
  /// params, x, y);`. Otherwise as a plain call.
  template <class... Args>
  auto streamed(ResultListener& listener, const Args&... args) const {
    static_assert(std::is_invocable_v<const F&, decltype(bound_type(args))...>,
                  "z::jit(...).streamed: the function cannot take these arguments (see the jit call's message)");
    return call_with(&listener, args...);
  }

  /// Calls `f` on these arguments: compiled on the first call of their signature, then cached.
  /// Misuse is one static_assert naming the problem instead of a page of template errors.
  template <class... Args>
  auto operator()(const Args&... args) const {
    if constexpr (!std::is_invocable_v<const F&, decltype(bound_type(args))...>) {
      static_assert(detail::always_false<Args...>,
                    "z::jit: the function cannot take these arguments. Pass a ParamTree where it takes Params, "
                    "an Array where it takes Tensor (data in a std::vector<float> goes through z::Array::from), "
                    "a std::vector<Array> for std::vector<Tensor>, and plain values as it takes them; check the "
                    "count and order");
    } else if constexpr (!detail::returnable<std::decay_t<std::invoke_result_t<const F&, decltype(bound_type(args))...>>>) {
      static_assert(detail::always_false<Args...>,
                    "z::jit: the function must return a Tensor, a std::vector<Tensor>, a TensorTree "
                    "or a std::tuple / std::pair of them; for a std::array, return a std::vector<Tensor> or a "
                    "std::tuple");
    } else {
      return call_with(nullptr, args...);
    }
  }

 private:
  template <class... Args>
  auto call_with(ResultListener* listener, const Args&... args) const {
    using R = std::decay_t<decltype(std::invoke(f_, bound_type(args)...))>;
    const std::array<detail::ArgRef, sizeof...(Args)> refs{detail::arg_ref(args)...};
    size_t i = 0;
    if (listener) {  // the listener runs user code, which may call this function again: a copy
      const std::shared_ptr<const detail::Compiled> entry = entry_for(args...);
      std::vector<Array> arrays = entry->run(refs, *listener);
      entry->verify(arrays);
      return detail::Results<R>::build(arrays, entry->result_paths, i);
    }
    // No user code runs before the results are built: the memo's entry stays (no reference count).
    const detail::Compiled& entry = *entry_for(args...);
    // Its capacity reused call after call; build moves the results out, and the guard empties
    // it when verify throws, so that it never keeps a result's buffer alive.
    thread_local std::vector<Array> arrays;
    struct Empty {
      std::vector<Array>& v;
      ~Empty() { v.clear(); }
    } empty{arrays};
    entry.run(refs, arrays);
    entry.verify(arrays);
    return detail::Results<R>::build(arrays, entry.result_paths, i);
  }

  // The compiled entry for these arguments' signature: found, or compiled now. It is this
  // thread's memo, which its next call of a function of this type may replace: copy it to keep it.
  template <class... Args>
  const std::shared_ptr<const detail::Compiled>& entry_for(const Args&... args) const {
    using R = std::decay_t<decltype(std::invoke(f_, bound_type(args)...))>;
    const std::array<detail::ArgRef, sizeof...(Args)> refs{detail::arg_ref(args)...};
    // The same signature as this thread's last call (a loop's next step): no lock, hashing or
    // list update. Found by the short key when the same trees come again (inference on one set
    // of params), else by the full key (a training step's new params: new trees, the same layout).
    thread_local std::string short_key, call_key;  // their capacity reused: a hit allocates nothing
    short_key.clear();
    const bool has_short_key = (detail::append_short_key(short_key, args) && ...);
    Memo& memo = this->memo();
    const bool memo_current = memo.entry && memo.state == state_->id &&
                              memo.epoch == state_->epoch.load(std::memory_order_acquire);
    if (memo_current && has_short_key && short_key == memo.short_key) {
      state_->hits.fetch_add(1, std::memory_order_relaxed);
      return memo.entry;
    }
    call_key.clear();
    (detail::append_key(call_key, args), ...);
    if (memo_current && call_key == memo.key) {
      state_->hits.fetch_add(1, std::memory_order_relaxed);
      if (has_short_key) memo.short_key = short_key;  // into its capacity: no allocation per step
      else memo.short_key.clear();
      return memo.entry;
    }
    // Tracing may call other jitted functions, which reuse these strings.
    const std::string key = call_key, call_short_key = has_short_key ? short_key : std::string();

    // Single flight: the first call of a signature compiles it; concurrent calls of the same
    // signature wait for that compile instead of repeating it. A failed compile is forgotten, so
    // the next call tries again (and the waiting ones see the same error).
    using Entry = std::shared_ptr<const detail::Compiled>;
    Entry entry;
    std::shared_future<Entry> pending;
    std::optional<std::promise<Entry>> promise;  // only on a miss: a hit allocates nothing
    uint64_t epoch = 0;  // when the entry was found: an eviction after it makes the memo stale
    {
      std::lock_guard lock(state_->mutex);
      auto [it, fresh] = state_->cache.try_emplace(key);
      auto& slot = it->second;
      if (fresh) {
        slot.pending = promise.emplace().get_future().share();
        slot.place = state_->recent.insert(state_->recent.begin(), key);
        state_->evict();
      } else {
        state_->recent.splice(state_->recent.begin(), state_->recent, slot.place);  // most recent
        state_->hits.fetch_add(1, std::memory_order_relaxed);
      }
      entry = slot.ready;  // a hit once compiled: no wait on the future
      if (!entry) pending = slot.pending;
      epoch = state_->epoch.load(std::memory_order_relaxed);  // after this call's own eviction
    }
    if (promise) {
      try {
        detail::Binder binder;
        detail::Flat outputs;
        detail::CheckScope checks;
        try {
          auto traced = invoke_bound(binder, std::index_sequence_for<Args...>{}, args...);
          detail::Results<R>::flatten(traced, outputs);
        } catch (const Error& e) {
          detail::rethrow_with_arguments(e, refs);
        }
        auto compiled = std::make_shared<const detail::Compiled>(binder.finish(outputs, checks.checks(), backend_));
        std::string readable;
        ((readable += detail::signature_of(args) + ";"), ...);
        detail::log_compile(refs, readable, compiled->executable->compile_seconds());
        {
          std::lock_guard lock(state_->mutex);
          state_->last_compile = compiled->executable->stats();
          ++state_->compiles;
          const std::array<bool, sizeof...(Args)> floating{std::is_floating_point_v<Args>...};
          state_->recompiles.compiled(refs, readable, floating);
          if (auto it = state_->cache.find(key); it != state_->cache.end()) it->second.ready = compiled;
        }
        promise->set_value(compiled);
      } catch (...) {
        {
          std::lock_guard lock(state_->mutex);
          if (auto it = state_->cache.find(key); it != state_->cache.end()) {
            state_->recent.erase(it->second.place);
            state_->cache.erase(it);
          }
        }
        promise->set_exception(std::current_exception());
        throw;
      }
    }
    if (!entry) entry = pending.get();
    memo = Memo{state_->id, epoch, call_short_key, key, std::move(entry)};
    return memo.entry;
  }

 public:
  /// What the most recent compile took: kernels, cache hits, stage times.
  compiler::CompileStats last_compile() const {
    std::lock_guard lock(state_->mutex);
    return state_->last_compile;
  }

  /// Number of distinct signatures compiled (or being compiled) so far.
  size_t cache_size() const {
    std::lock_guard lock(state_->mutex);
    return state_->cache.size();
  }

  /// Number of compiles this function has done: one per signature, however many threads made
  /// its first call at once (and again for a signature evicted and called again).
  size_t compiles() const {
    std::lock_guard lock(state_->mutex);
    return state_->compiles;
  }

  /// The signature cache: entries, capacity, hits, compiles and evictions so far.
  JitCacheStats cache_stats() const {
    std::lock_guard lock(state_->mutex);
    return {state_->cache.size(), state_->capacity, state_->hits.load(std::memory_order_relaxed), state_->compiles,
            state_->evictions};
  }

  /// Keeps at most `signatures` compiled signatures (at least 1), dropping the least recently
  /// called first. The default is ZEPHYR_JIT_CACHE_SIZE, else 256.
  void set_cache_capacity(size_t signatures) const {
    std::lock_guard lock(state_->mutex);
    state_->capacity = std::max<size_t>(signatures, 1);
    state_->evict();
  }

 private:
  template <size_t... I, class... Args>
  auto invoke_bound(detail::Binder& binder, std::index_sequence<I...>, const Args&... args) const {
    return std::invoke(f_, binder.bind(args, I)...);
  }

  // The symbolic type the model sees for each call argument type (only used in decltype).
  static Params bound_type(const ParamTree&);
  static Tensor bound_type(const Array&);
  static std::vector<Tensor> bound_type(const std::vector<Array>&);
  template <class T> static const T& bound_type(const T&);

  struct State {
    mutable std::mutex mutex;
    /// One signature's cache entry.
    struct Slot {
      std::shared_future<std::shared_ptr<const detail::Compiled>> pending;  ///< set by the first caller
      std::shared_ptr<const detail::Compiled> ready;                        ///< set once compiled
      std::list<std::string>::iterator place;                               ///< in `recent`
    };
    std::unordered_map<std::string, Slot> cache;
    std::list<std::string> recent;  // keys, most recently called first
    size_t capacity = detail::jit_cache_capacity();
    const uint64_t id = detail::new_jit_state_id();
    std::atomic<uint64_t> epoch{0};  // bumped by each eviction: threads' memos made before it are stale
    std::atomic<size_t> hits{0};     // counted without the lock by memo hits
    size_t compiles = 0, evictions = 0;
    compiler::CompileStats last_compile;
    detail::RecompileTracker recompiles;

    // Drops least recently called signatures beyond the capacity; one still compiling stays (its
    // callers wait on it). Callers still running an evicted entry keep it alive.
    void evict() {
      for (auto it = recent.end(); cache.size() > capacity && it != recent.begin();) {
        --it;
        auto slot = cache.find(*it);
        if (!slot->second.ready) continue;
        epoch.fetch_add(1, std::memory_order_release);
        cache.erase(slot);
        it = recent.erase(it);
        ++evictions;
      }
    }
  };

  // A thread's last signature found compiled for one Jitted (by its state's id), checked with no
  // lock: a hit compares a key and loads the epoch. A thread keeps four, so calls alternating
  // among a few jitted functions of one type each find theirs. A memo keeps its entry alive
  // until the thread's next call on that slot replaces it: a stale one (after an eviction) is
  // never run, but its code is freed only then, or when the thread exits (so too for the last
  // entry of a Jitted that was destroyed).
  struct Memo {
    uint64_t state = 0, epoch = 0;
    std::string short_key, key;  // short_key empty: the call had none
    std::shared_ptr<const detail::Compiled> entry;
  };
  Memo& memo() const {
    thread_local std::array<Memo, 4> memos;
    return memos[state_->id % memos.size()];
  }

  F f_;
  detail::Backend backend_;
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

/// The graph `jit(f)(args...)` would compile: for IR dumps, tools and tests.
template <class F, class... Args>
Function make_function(F&& f, const Args&... args) {
  using R = std::decay_t<decltype(std::invoke(f, std::declval<decltype(detail::Binder().bind(args, 0))>()...))>;
  detail::Binder binder;
  auto traced = [&]<size_t... I>(std::index_sequence<I...>) {
    return std::invoke(f, binder.bind(args, I)...);
  }(std::index_sequence_for<Args...>{});
  detail::Flat outputs;
  detail::Results<R>::flatten(traced, outputs);
  return binder.function(outputs);
}

/// Compiles `f` on first call per argument signature (shapes, dtypes, tree layout, constants).
/// State captured by a lambda is baked in at that first compile: pass changing values as arguments.
template <class F>  // the next line is what a compiler shows when F cannot be deduced
Jitted<std::decay_t<F>> jit(F&& f, compiler::Options options = {}) {  // an overloaded function (z::nets::linear): wrap it in a lambda
  return Jitted<std::decay_t<F>>(std::forward<F>(f), options);
}

namespace detail {

template <class... Args>
constexpr bool symbolic_call = (std::is_same_v<std::decay_t<Args>, Params> || ...) ||
                               (std::is_same_v<std::decay_t<Args>, Tensor> || ...);

/// A transform's result: `symbolic` itself on Tensor or Params arguments (inside jit, interpret
/// or another transform), jit(symbolic) on Arrays and ParamTrees, compiled on the first such
/// call only, so a program that only interprets never instantiates the compiler's backend.
template <class S>
auto symbolic_or_compiled(S symbolic) {
  struct Lazy {
    std::once_flag once;
    std::optional<Jitted<S>> jitted;
  };
  auto lazy = std::make_shared<Lazy>();
  return [symbolic, lazy](const auto&... args) {
    if constexpr (symbolic_call<decltype(args)...>) {
      return symbolic(args...);
    } else {
      std::call_once(lazy->once, [&] { lazy->jitted.emplace(symbolic); });
      return (*lazy->jitted)(args...);
    }
  };
}

}  // namespace detail

/// `f` evaluated by the reference interpreter instead of compiled, with jit's call shape:
/// `z::interpret(loss)(params, x)` returns what `z::jit(loss)(params, x)` does, computed in plain
/// loops (no MLIR, no kernels), for debugging a model or checking the compiler.
template <class F>
Jitted<std::decay_t<F>> interpret(F&& f, InterpretOptions options = {}) {
  return Jitted<std::decay_t<F>>(std::forward<F>(f), detail::interpreter_backend(options));
}

}  // namespace zephyr
