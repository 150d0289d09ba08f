// The JIT as kernels: partition, look each distinct kernel up in the compile cache (this
// process, then disk), compile the misses on every core, link the objects with ORC, and run the
// schedule over buffers freed after their last use.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "../core/buffer_pool.h"
#include "../core/env.h"
#include "buffer_plan.h"
#include "compiler_fingerprint.h"
#include "flush_denormals.h"
#include "kernel_cache.h"
#include "llvm/ExecutionEngine/Orc/ExecutionUtils.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm_support.h"
#include "native_code.h"
#include "partition.h"
#include "scheduled_executable.h"

namespace zephyr::compiler {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

constexpr size_t kMaxBatch = 8;         // kernels compiled together at most (small ones: 4 times that)
constexpr int64_t kSmallKernel = 16384;  // elements: below this a kernel's compile is mostly fixed cost

// No matmul and no operand or result above kSmallKernel elements: microseconds of work at run time.
bool is_small(const Function& kernel) {
  int64_t largest = numel(kernel.results[0]->shape);
  for (const NodePtr& a : kernel.arguments) largest = std::max(largest, numel(a->shape));
  if (largest > kSmallKernel) return false;
  for (const Node* n : topological_order(kernel.results))
    if (n->op == OpKind::MatMul) return false;
  return true;
}

// A kernel's compile time, roughly, in nodes: a matmul (a tiling and vectorizing script of its
// own) counts as kMatMulCost of them, and a loop body as often as the lowering emits it (a
// scan's twice: its first step is peeled). Only the order of the batches uses it.
constexpr double kMatMulCost = 8;
double compile_cost(const Function& kernel) {
  double cost = 0;
  for (const Node* n : topological_order(kernel.results)) {
    cost += n->op == OpKind::MatMul ? kMatMulCost : 1;
    if (n->attrs.loop) cost += (n->op == OpKind::Scan ? 2 : 1) * compile_cost(n->attrs.loop->body);
  }
  return cost;
}

// ZEPHYR_PROFILE_KERNELS=1: each kernel call's time, summed over runs, printed (the twelve
// costliest calls first, by op and line; a number above 1 lists that many, "all" every call)
// when the compiled function is destroyed or the process exits.
// The first run is left out: its fresh buffers fault their pages in, a cost later runs do not pay.
class Profile {
 public:
  static std::shared_ptr<Profile> make(const std::string& name, const Schedule& schedule) {
    auto profile = std::make_shared<Profile>();
    profile->name_ = name;
    const std::string listed = std::getenv("ZEPHYR_PROFILE_KERNELS");
    const long asked = std::strtol(listed.c_str(), nullptr, 10);
    profile->listed_ = listed == "all" ? schedule.calls.size() : asked > 1 ? static_cast<size_t>(asked) : 12;
    for (const KernelCall& call : schedule.calls) {
      const Schedule::Value& out = schedule.values[call.outputs[0]];
      profile->labels_.push_back(fmt::format("{} -> {}", call.origin, describe(out.dtype, out.shape)));
    }
    profile->seconds_.assign(schedule.calls.size(), 0.0);
    static std::mutex mutex;
    static std::vector<std::weak_ptr<Profile>>* live = new std::vector<std::weak_ptr<Profile>>;
    std::lock_guard lock(mutex);
    if (live->empty())
      std::atexit([] {
        std::lock_guard lock(mutex);
        for (const std::weak_ptr<Profile>& p : *live)
          if (auto profile = p.lock()) profile->print();
      });
    live->push_back(profile);
    return profile;
  }

  void add(size_t call, double seconds) {
    std::lock_guard lock(mutex_);
    if (call == 0) ++started_;
    if (started_ == 1) return;  // the first run
    seconds_[call] += seconds;
    if (call == 0) ++runs_;
  }

  void print() {
    std::lock_guard lock(mutex_);
    if (printed_ || runs_ == 0) return;
    printed_ = true;
    std::vector<size_t> order(seconds_.size());
    for (size_t c = 0; c < order.size(); ++c) order[c] = c;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return seconds_[a] > seconds_[b]; });
    double total = 0;
    for (double s : seconds_) total += s;
    const double per_run = 1e3 / static_cast<double>(runs_);
    fmt::print(stderr, "[zephyr] kernel profile of {}: {} runs after the first, {:.3f} ms per run in {} calls\n", name_, runs_,
               total * per_run, seconds_.size());
    for (size_t i = 0; i < std::min(order.size(), listed_); ++i)
      fmt::print(stderr, "[zephyr]   {:8.3f} ms {:5.1f}%  call {:4}: {}\n", seconds_[order[i]] * per_run,
                 100 * seconds_[order[i]] / total, order[i], labels_[order[i]]);
    // Totals by the op that labels the kernel (its first word): where a run's time goes.
    std::map<std::string, std::pair<double, int>> by_op;
    for (size_t c = 0; c < seconds_.size(); ++c) {
      auto& [seconds, calls] = by_op[labels_[c].substr(0, labels_[c].find(' '))];
      seconds += seconds_[c];
      ++calls;
    }
    std::string totals;
    for (const auto& [op, entry] : by_op)
      totals += fmt::format("{}{} {:.3f} ms ({})", totals.empty() ? "" : ", ", op, entry.first * per_run, entry.second);
    fmt::print(stderr, "[zephyr]   by op: {}\n", totals);
  }

 private:
  std::mutex mutex_;
  std::string name_;
  std::vector<std::string> labels_;
  std::vector<double> seconds_;
  size_t listed_ = 12;  // calls printed
  size_t started_ = 0, runs_ = 0;
  bool printed_ = false;
};

// Kernel objects compiled or loaded by this process, by full key: a second function (or a second
// signature of the same one) that shares kernels compiles and reads nothing.
class ObjectMemo {
 public:
  std::shared_ptr<const std::string> find(const std::string& key) {
    std::lock_guard lock(mutex_);
    auto it = objects_.find(key);
    return it == objects_.end() ? nullptr : it->second;
  }
  void insert(const std::string& key, std::shared_ptr<const std::string> object) {
    std::lock_guard lock(mutex_);
    objects_.emplace(key, std::move(object));
  }
  void clear() {
    std::lock_guard lock(mutex_);
    objects_.clear();
  }

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<const std::string>> objects_;
};

ObjectMemo& memo() {
  static ObjectMemo instance;
  return instance;
}

// What else a kernel's object code depends on: this zephyr's compiler (its version and a hash of
// its sources, so a changed pipeline never reuses old code), LLVM and the CPU, and the options.
std::string key_prefix(const Options& options) {
  static const std::string target = target_description();
  return fmt::format("zephyr {} | {} | threads {} vectorize {} |", ZEPHYR_COMPILER_FINGERPRINT, target,
                     options.threads, options.vectorize);
}

// A run's block for its intermediate values (buffer_plan.h), back to the pool however the run ends.
class Arena {
 public:
  explicit Arena(size_t bytes) : base_(bytes ? static_cast<char*>(buffer_pool::allocate(bytes)) : nullptr) {
    if (bytes && !base_)
      throw Error(fmt::format("[run] out of memory: the intermediate values need {} bytes", bytes));
  }
  ~Arena() { buffer_pool::release(base_); }
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  void* at(long offset) const { return base_ + offset; }

 private:
  char* base_;
};

class ScheduledExecutable final : public Executable {
  class Bound;

 public:
  ScheduledExecutable(const Function& function, const Options& options) {
    const auto start = Clock::now();
    // ZEPHYR_DEBUG_NANS=1: one op per kernel, each result checked, so the op named is the first
    // that produced the NaN, not the last of a fused group.
    debug_nans_ = detail::env_flag("ZEPHYR_DEBUG_NANS");
    flush_denormals_ = options.flush_denormals;
    schedule_ = partition(function, {.every_op = debug_nans_});
    plan_ = plan_buffers(schedule_);
    final_after_.resize(schedule_.calls.size());
    computed_.assign(schedule_.results.size(), false);
    std::vector<long> call_of(schedule_.values.size(), -1);
    for (size_t c = 0; c < schedule_.calls.size(); ++c)
      for (size_t out : schedule_.calls[c].outputs) call_of[out] = static_cast<long>(c);
    for (size_t r = 0; r < schedule_.results.size(); ++r)
      if (const long c = call_of[schedule_.results[r]]; c >= 0) {
        final_after_[static_cast<size_t>(c)].push_back(r);
        computed_[r] = true;
      }
    if (detail::env_flag("ZEPHYR_PROFILE_KERNELS")) profile_ = Profile::make(function.name, schedule_);
    stats_.kernel_calls = schedule_.calls.size();
    stats_.distinct = schedule_.kernels.size();
    stats_.intermediate_bytes = plan_.arena_bytes;
    stats_.partition_seconds = since(start);

    const auto compile_start = Clock::now();
    std::vector<std::shared_ptr<const std::string>> objects = objects_for(options, [this] {
      if (plan_.arena_bytes <= kFaultInBytes)
        arena_ready_ = std::async(std::launch::async, fault_in, plan_.arena_bytes, stop_fault_in_).share();
    });
    stats_.compile_seconds = since(compile_start);

    const auto link_start = Clock::now();
    link(objects, options);
    stats_.link_seconds = since(link_start);
    seconds_ = since(start);
    if (detail::env_flag("ZEPHYR_LOG_COMPILES")) {
      fmt::print(stderr,
                 "[zephyr] {}: {} kernel calls, {} distinct kernels: {} from the cache, {} compiled on {} "
                 "threads; partition {:.0f} ms, compile {:.0f} ms (summed over threads: MLIR {:.0f} ms, LLVM IR "
                 "and O2 {:.0f} ms, object code {:.0f} ms), link {:.0f} ms; {:.1f} MB of intermediates per run\n",
                 function.name, stats_.kernel_calls, stats_.distinct, stats_.from_cache, stats_.compiled,
                 stats_.workers, stats_.partition_seconds * 1e3, stats_.compile_seconds * 1e3,
                 stats_.mlir_seconds * 1e3, stats_.llvm_seconds * 1e3, stats_.codegen_seconds * 1e3,
                 stats_.link_seconds * 1e3, static_cast<double>(plan_.arena_bytes) / 1e6);
      if (std::string_view(std::getenv("ZEPHYR_LOG_COMPILES")) == "2") log_slowest();
    }
  }

  void run(void* const* arguments, void* const* results) const override { run_calls(arguments, results, nullptr); }
  void run(void* const* arguments, void* const* results, RunListener& listener) const override {
    run_calls(arguments, results, &listener);
  }

  // The kernel calls in order; `listener` (if any) hears of each result after the call that
  // computes it (a result copied out is copied then), and is polled between calls.
  void run_calls(void* const* arguments, void* const* results, RunListener* listener) const {
    const FlushDenormals flush(flush_denormals_);
    thread_local std::vector<void*> at, packed;  // run() never nests
    at.assign(schedule_.values.size(), nullptr);
    for (size_t i = 0; i < schedule_.arguments; ++i) at[i] = arguments[i];
    // Each run has an arena of its own (concurrent runs of one function share nothing); the pool
    // hands the same block back run after run, so only the first run faults its pages in.
    if (arena_ready_.valid()) arena_ready_.wait();
    Arena arena(plan_.arena_bytes);
    for (size_t c = 0; c < schedule_.calls.size(); ++c) {
      const KernelCall& call = schedule_.calls[c];
      for (size_t out : call.outputs) at[out] = output_at(out, results, arena);
      packed.clear();
      for (size_t in : call.inputs) packed.push_back(at[in]);
      for (size_t out : call.outputs) packed.push_back(at[out]);
      if (profile_) {
        const auto t = Clock::now();
        entries_[call.kernel](packed.data());
        profile_->add(c, since(t));
      } else {
        entries_[call.kernel](packed.data());
      }
      if (debug_nans_) check_finite(c, at);
      if (listener) {
        for (size_t r : final_after_[c]) {
          if (plan_.copied[r]) std::memcpy(results[r], at[schedule_.results[r]], plan_.bytes[schedule_.results[r]]);
          listener->ready(r);
        }
        listener->between_kernels();
      }
    }
    for (size_t r = 0; r < schedule_.results.size(); ++r)
      if (plan_.copied[r] && (!listener || !computed_[r]))
        std::memcpy(results[r], at[schedule_.results[r]], plan_.bytes[schedule_.results[r]]);
  }

  // A prepared call's run: the pointer lists of run() worked out once, over an arena the binding
  // keeps, so a call is the kernel calls alone. Profiling and NaN checks, host work per run,
  // take run()'s path.
  std::unique_ptr<BoundRun> bind(std::vector<void*> arguments, std::vector<void*> results) const override;

  // Where a kernel call writes value `v`: straight into a result's buffer, or its arena slot.
  void* output_at(size_t v, void* const* results, const Arena& arena) const {
    const int direct = plan_.direct_result[v];
    return direct >= 0 ? results[direct] : arena.at(plan_.offset[v]);
  }

  double compile_seconds() const override { return seconds_; }
  CompileStats stats() const override { return stats_; }

  ~ScheduledExecutable() override {
    *stop_fault_in_ = true;
    if (profile_) profile_->print();
  }

 private:
  // ZEPHYR_DEBUG_NANS=1: a host step after every kernel call, as jax_debug_nans. The first call
  // whose output holds a NaN or an infinity stops the run with the op and the user's line that
  // computed it (the run's arena goes back to the pool as the exception leaves run()). Each
  // kernel has one op and one output then (PartitionOptions::every_op).
  void check_finite(size_t c, const std::vector<void*>& at) const {
    const KernelCall& call = schedule_.calls[c];
    const size_t output = call.outputs[0];
    const Schedule::Value& value = schedule_.values[output];
    const int64_t n = numel(value.shape);
    int64_t bad = -1;
    double found = 0;
    if (value.dtype == DType::f32) {
      const float* p = static_cast<const float*>(at[output]);
      for (int64_t i = 0; i < n && bad < 0; ++i)
        if (!std::isfinite(p[i])) bad = i, found = p[i];
    } else if (value.dtype == DType::f64) {
      const double* p = static_cast<const double*>(at[output]);
      for (int64_t i = 0; i < n && bad < 0; ++i)
        if (!std::isfinite(p[i])) bad = i, found = p[i];
    }
    if (bad < 0) return;
    throw Error(fmt::format("[debug_nans] {} produced {} at element {} of its {} result (kernel call {} of {}; "
                            "ZEPHYR_DEBUG_NANS=1)",
                            call.origin, std::isnan(found) ? "NaN" : found > 0 ? "inf" : "-inf", bad,
                            describe(value.dtype, value.shape), c + 1, schedule_.calls.size()));
  }

  // ZEPHYR_LOG_COMPILES=2: the batches that took longest to compile, each by its kernels' ops and
  // the user's lines, so that a slow compile can be traced to the layer that causes it.
  void log_slowest() const {
    std::vector<std::pair<double, std::vector<size_t>>> batches = batch_seconds_;
    std::sort(batches.begin(), batches.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<const std::string*> origin(schedule_.kernels.size(), nullptr);
    for (const KernelCall& call : schedule_.calls)
      if (!origin[call.kernel]) origin[call.kernel] = &call.origin;
    for (size_t b = 0; b < std::min<size_t>(batches.size(), 8); ++b) {
      std::vector<std::string> names;
      for (size_t k : batches[b].second) names.push_back(*origin[k]);
      fmt::print(stderr, "[zephyr]   {:6.0f} ms: {}\n", batches[b].first * 1e3, fmt::join(names, "; "));
    }
  }

  // Each distinct kernel's object: from this process, the disk cache, or compiled now. The misses
  // are compiled in batches (a small kernel's compile is mostly fixed cost: a pipeline, an LLVM
  // module, a code generator), the batches in parallel, with an MLIR and LLVM context per worker.
  // A batch's object is stored under each of its kernels' keys.
  // `on_core_free` runs once, as soon as a core has nothing left to compile (at once if nothing
  // is compiled): work that can wait for a free core, so it does not slow the compile down.
  std::vector<std::shared_ptr<const std::string>> objects_for(const Options& options,
                                                              const std::function<void()>& on_core_free) {
    const std::string prefix = key_prefix(options);
    const size_t n = schedule_.kernels.size();
    std::vector<std::shared_ptr<const std::string>> objects(n);
    std::vector<std::string> keys(n);
    std::vector<size_t> missing;
    for (size_t k = 0; k < n; ++k) {
      keys[k] = prefix + schedule_.keys[k];
      if ((objects[k] = memo().find(keys[k]))) continue;
      if (auto cached = kernel_cache::load(keys[k])) {
        objects[k] = std::make_shared<const std::string>(std::move(*cached));
        memo().insert(keys[k], objects[k]);
        continue;
      }
      missing.push_back(k);
    }
    stats_.from_cache = n - missing.size();
    stats_.compiled = missing.size();
    const size_t cores = std::max(1u, std::thread::hardware_concurrency());
    // Enough batches per worker that one large kernel does not leave the other cores idle. Small
    // kernels (no matmul, at most kSmallKernel elements in any operand) go in batches four times
    // larger: their compile is mostly the fixed cost of a batch, measured at about 45 ms (MLIR,
    // LLVM and code generator together) for a lone 31K-element subtraction.
    const size_t per_batch = std::clamp<size_t>(missing.size() / (4 * cores), 1, kMaxBatch);
    std::vector<size_t> large, small;
    for (size_t k : missing) (is_small(schedule_.kernels[k]) ? small : large).push_back(k);
    std::vector<std::vector<size_t>> batches;
    auto add_batches = [&](const std::vector<size_t>& kernels, size_t size) {
      for (size_t i = 0; i < kernels.size(); i += size)
        batches.emplace_back(kernels.begin() + i, kernels.begin() + std::min(i + size, kernels.size()));
    };
    add_batches(large, per_batch);
    add_batches(small, 4 * per_batch);
    // The costliest batches first, so that the last batch to start is a short one (a scan over
    // 256 steps started fifth of six left one core idle while the other compiled it alone).
    std::vector<std::pair<double, size_t>> by_cost;
    for (size_t b = 0; b < batches.size(); ++b) {
      double cost = 0;
      for (size_t k : batches[b]) cost += compile_cost(schedule_.kernels[k]);
      by_cost.emplace_back(-cost, b);
    }
    std::sort(by_cost.begin(), by_cost.end());  // pairs are distinct (b), so equal costs keep their order
    std::vector<std::vector<size_t>> ordered;
    for (const auto& [cost, b] : by_cost) ordered.push_back(std::move(batches[b]));
    batches = std::move(ordered);
    const int workers = static_cast<int>(std::min(batches.size(), cores));
    stats_.workers = workers;
    std::once_flag core_free;
    if (workers == 0) std::call_once(core_free, on_core_free);
    std::atomic<size_t> next{0};
    std::exception_ptr failure;
    std::mutex mutex;  // guards `failure` and the stage times
    auto work = [&] {
      for (size_t b; (b = next++) < batches.size();) {
        const auto batch_start = Clock::now();
        try {
          std::vector<Function> kernels;
          for (size_t k : batches[b]) kernels.push_back(schedule_.kernels[k]);
          KernelObject compiled = kernel_object(kernels, options);
          auto object = std::make_shared<const std::string>(std::move(compiled.object));
          for (size_t k : batches[b]) {
            kernel_cache::store(keys[k], *object);
            memo().insert(keys[k], object);
            objects[k] = object;
          }
          std::lock_guard lock(mutex);
          stats_.mlir_seconds += compiled.mlir_seconds;
          stats_.llvm_seconds += compiled.llvm_seconds;
          stats_.codegen_seconds += compiled.codegen_seconds;
          batch_seconds_.emplace_back(since(batch_start), batches[b]);
        } catch (...) {
          std::lock_guard lock(mutex);
          if (!failure) failure = std::current_exception();
        }
      }
      std::call_once(core_free, on_core_free);
    };
    std::vector<std::thread> pool;
    for (int w = 1; w < workers; ++w) pool.emplace_back(work);
    if (workers > 0) work();
    for (std::thread& t : pool) t.join();
    if (failure) std::rethrow_exception(failure);
    return objects;
  }

  // Each distinct object goes into a JITDylib of its own: objects from different batches may both
  // define a kernel (batched differently by earlier runs), and separate dylibs keep them apart.
  void link(const std::vector<std::shared_ptr<const std::string>>& objects, const Options& options) {
    auto jit = llvm::orc::LLJITBuilder().create();
    if (!jit) throw Error("[compile] cannot start the JIT linker: " + error_text(jit.takeError()));
    jit_ = std::move(*jit);
    std::unordered_map<std::string_view, llvm::orc::JITDylib*> dylib_of;
    for (size_t k = 0; k < objects.size(); ++k) {
      auto [it, fresh] = dylib_of.try_emplace(std::string_view(*objects[k]), nullptr);
      if (fresh) {
        it->second = &new_dylib(fmt::format("kernels{}", dylib_of.size()), options);
        auto buffer = llvm::MemoryBuffer::getMemBuffer(*objects[k], schedule_.kernels[k].name, false);
        if (auto error = jit_->addObjectFile(*it->second, std::move(buffer)))
          throw Error("[compile] JIT linking failed: " + error_text(std::move(error)));
      }
      auto address = jit_->lookup(*it->second, schedule_.kernels[k].name + "_packed");
      if (!address) throw Error("[compile] kernel entry not found: " + error_text(address.takeError()));
      entries_.push_back(address->toPtr<void (*)(void**)>());
    }
    objects_ = objects;  // the linked code was copied out, but keep the bytes for as long as the JIT
  }

  // A dylib whose malloc/free are the buffer pool (buffer_pool.h), with OpenMP (__kmpc_*) from
  // LLVM's libomp when threaded; libm and memset come from the process (LLJIT's default links).
  llvm::orc::JITDylib& new_dylib(const std::string& name, const Options& options) {
    auto dylib = jit_->createJITDylib(name);
    if (!dylib) throw Error("[compile] JIT linking failed: " + error_text(dylib.takeError()));
    llvm::orc::SymbolMap pool;
    pool[jit_->mangleAndIntern("malloc")] = {llvm::orc::ExecutorAddr::fromPtr(&buffer_pool::allocate),
                                             llvm::JITSymbolFlags::Exported};
    pool[jit_->mangleAndIntern("free")] = {llvm::orc::ExecutorAddr::fromPtr(&buffer_pool::release),
                                           llvm::JITSymbolFlags::Exported};
    if (auto error = dylib->define(llvm::orc::absoluteSymbols(std::move(pool))))
      throw Error("[compile] JIT linking failed: " + error_text(std::move(error)));
    if (options.threads > 1) {
      auto omp = llvm::orc::DynamicLibrarySearchGenerator::Load(kOpenMpRuntime, jit_->getDataLayout().getGlobalPrefix());
      if (!omp) throw Error(fmt::format("[compile] cannot load {}: {}", kOpenMpRuntime, error_text(omp.takeError())));
      dylib->addGenerator(std::move(*omp));
    }
    return *dylib;
  }

  // Fresh memory faults in page by page, and on a VM each first touch is slow (first-touching
  // the CNN step's 54 MB arena took up to 150 ms, eight steps' worth): a thread touches one arena's
  // worth of pool memory, so the first run finds it in the pool. It starts once a core has no more
  // kernels to compile: started with the compile, it took the compiling threads' cores (measured:
  // the 8-block LM's compile took 200 ms longer than the 1-block's for the same compile work, the
  // difference being its 90 MB arena). Not for arenas above kFaultInBytes (a GPT-2-sized step's is
  // 0.8 GB): a compile that is never run (`zephyr lm-step --compile-only`) would hold that memory
  // for nothing. Destroying the executable stops it.
  static constexpr size_t kFaultInBytes = size_t{256} << 20;
  static void fault_in(size_t bytes, std::shared_ptr<const std::atomic<bool>> stop) {
    if (bytes == 0) return;
    auto* block = static_cast<volatile char*>(buffer_pool::allocate(bytes));
    if (!block) return;  // the run reports it
    for (size_t i = 0; i < bytes && !*stop; i += 4096) block[i] = 0;
    buffer_pool::release(const_cast<char*>(block));
  }

  Schedule schedule_;
  std::shared_ptr<std::atomic<bool>> stop_fault_in_ = std::make_shared<std::atomic<bool>>(false);
  std::shared_future<void> arena_ready_;
  std::unique_ptr<llvm::orc::LLJIT> jit_;
  std::vector<std::shared_ptr<const std::string>> objects_;
  std::vector<void (*)(void**)> entries_;
  BufferPlan plan_;
  std::vector<std::vector<size_t>> final_after_;  // per call: the results it computes
  std::vector<bool> computed_;                    // per result: some call computes it (not an argument)
  bool debug_nans_ = false;
  bool flush_denormals_ = true;  // Options::flush_denormals: each run sets MXCSR (flush_denormals.h)
  std::shared_ptr<Profile> profile_;
  CompileStats stats_;
  std::vector<std::pair<double, std::vector<size_t>>> batch_seconds_;  // per compiled batch: seconds, kernels
  double seconds_ = 0;
};

class ScheduledExecutable::Bound final : public BoundRun {
 public:
  Bound(const ScheduledExecutable& e, const std::vector<void*>& arguments, const std::vector<void*>& results)
      : arena_(e.plan_.arena_bytes), flush_denormals_(e.flush_denormals_) {
    std::vector<void*> at(e.schedule_.values.size(), nullptr);
    for (size_t i = 0; i < e.schedule_.arguments; ++i) at[i] = arguments[i];
    for (const KernelCall& call : e.schedule_.calls) {
      for (size_t out : call.outputs) at[out] = e.output_at(out, results.data(), arena_);
      calls_.push_back({e.entries_[call.kernel], pointers_.size()});
      for (size_t in : call.inputs) pointers_.push_back(at[in]);
      for (size_t out : call.outputs) pointers_.push_back(at[out]);
    }
    for (size_t r = 0; r < e.schedule_.results.size(); ++r)
      if (e.plan_.copied[r])
        copies_.push_back({results[r], at[e.schedule_.results[r]], e.plan_.bytes[e.schedule_.results[r]]});
  }

  void run() override {
    const FlushDenormals flush(flush_denormals_);
    void** pointers = pointers_.data();
    for (const Call& call : calls_) call.entry(pointers + call.first);
    for (const Copy& copy : copies_) std::memcpy(copy.to, copy.from, copy.bytes);
  }

 private:
  struct Call {
    void (*entry)(void**);
    size_t first;  // its pointers in pointers_: the inputs, then the outputs
  };
  struct Copy {
    void* to;
    const void* from;
    size_t bytes;
  };
  Arena arena_;
  bool flush_denormals_;
  std::vector<void*> pointers_;
  std::vector<Call> calls_;
  std::vector<Copy> copies_;
};

std::unique_ptr<BoundRun> ScheduledExecutable::bind(std::vector<void*> arguments, std::vector<void*> results) const {
  if (profile_ || debug_nans_) return Executable::bind(std::move(arguments), std::move(results));
  if (arena_ready_.valid()) arena_ready_.wait();
  return std::make_unique<Bound>(*this, arguments, results);
}

}  // namespace

void forget_compiled_kernels() {
  memo().clear();
  forget_toolchains();
}

std::shared_ptr<Executable> compile_scheduled(const Function& function, const Options& options) {
  return std::make_shared<ScheduledExecutable>(function, options);
}

}  // namespace zephyr::compiler
