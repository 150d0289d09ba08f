// The compiler's public face: Function in, native code or IR text out. No MLIR types here;
// only lib/compiler/*.cpp include MLIR and LLVM headers.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "zephyr/graph.h"

namespace zephyr::compiler {

/// Where to stop lowering, for IR dumps (`zephyr ir --stage`).
enum class Stage {
  graph,         ///< our own graph (print_graph)
  kernels,       ///< the schedule of kernel calls, and each distinct kernel's graph
  mlir,          ///< func + linalg/tensor/arith/math on tensors, as emitted
  linalg,        ///< after fusion, tiling and vectorization (transform script)
  bufferized,    ///< on memrefs, results turned into out-parameters
  llvm_dialect,  ///< the LLVM dialect
  llvm_ir,       ///< LLVM IR after O3
  assembly,      ///< host assembly
};
/// "graph", "mlir", ... and back; parse throws naming the valid stages.
const char* stage_name(Stage stage);
Stage parse_stage(const std::string& text);

/// How compile, lower_to and object_file lower a Function.
struct Options {
  bool vectorize = true;        ///< tile + vectorize contractions (off only to compare)
  bool locations = false;       ///< print loc(...) in MLIR dumps
  bool print_after_all = false; ///< dump IR after every pass to stderr
  /// Matmuls of at least 64 rows are split over this many threads (OpenMP). 0: the JIT uses
  /// ZEPHYR_NUM_THREADS, or every core; IR dumps and ahead-of-time objects (libc only) use 1.
  int threads = 0;
  /// Compile the function as kernels, one per fusion group, deduplicated, and a schedule of
  /// calls to them: in the JIT (compiled in parallel, cached on disk; ZEPHYR_KERNELS=0 turns it
  /// off), in ahead-of-time objects and in IR dumps from `mlir` on. false: one function for the
  /// whole graph.
  bool kernels = true;
  /// Run with subnormal floats flushed to zero (x86's MXCSR flush-to-zero and
  /// denormals-are-zero, set for each run and restored after it), as XLA and TensorFlow do on
  /// CPU: an operation on a subnormal costs a microcode assist, and a training run whose values
  /// decay into that range slowed 1.6x (docs/performance.md). false: IEEE gradual underflow.
  /// Ahead-of-time objects flush in their entry point when the schedule of kernels is on.
  bool flush_denormals = true;
};

/// What compiling one function took (ZEPHYR_LOG_COMPILES=1 prints it).
struct CompileStats {
  size_t kernel_calls = 0;  ///< calls in the schedule
  size_t distinct = 0;      ///< distinct kernels among them
  size_t from_cache = 0;    ///< of those, found compiled (this process or the disk cache)
  size_t compiled = 0;      ///< of those, compiled now
  int workers = 0;          ///< threads that compiled them
  /// \var partition_seconds
  /// Wall time splitting the graph into kernels and planning their buffers.
  /// \var compile_seconds
  /// Wall time getting the distinct kernels' object code, from the cache or compiled now.
  /// \var link_seconds
  /// Wall time linking the kernels' object code into the executable.
  double partition_seconds = 0, compile_seconds = 0, link_seconds = 0;  // wall time
  /// \var mlir_seconds
  /// Building the kernels' MLIR and running its pass pipeline, summed over workers.
  /// \var llvm_seconds
  /// Translating to LLVM IR and optimizing it, summed over workers.
  /// \var codegen_seconds
  /// Emitting object code, summed over workers.
  double mlir_seconds = 0, llvm_seconds = 0, codegen_seconds = 0;       // summed over workers
  /// Bytes of intermediate values one run holds at its peak (the arena that the schedule's
  /// buffers share); 0 where there is no schedule (one function for the whole graph).
  size_t intermediate_bytes = 0;
};

/// The thread count 0 stands for in the JIT: ZEPHYR_NUM_THREADS if set, else every core.
int default_threads();

/// One Executable's run bound to fixed argument and result buffers (Jitted::prepare). What a run
/// otherwise works out on every call (each kernel's pointer list, a block for the intermediate
/// values) is worked out once, so a call takes no lock and allocates nothing. One thread at a time.
class BoundRun {
 public:
  virtual ~BoundRun() = default;
  /// Runs the code on what the bound buffers hold now, writing the bound results.
  virtual void run() = 0;
};

/// Told during a run as its results become final, so that a caller can start using them while
/// the rest of the function runs: data-parallel training starts averaging the last layers'
/// gradients over the ranks while the backward pass of the first layers goes on.
class RunListener {
 public:
  virtual ~RunListener() = default;
  /// Result `index`'s buffer holds its final value: no later kernel writes it.
  virtual void ready(size_t index) = 0;
  /// Between two kernel calls: a chance to move on work that ready() started (polling MPI).
  virtual void between_kernels() {}
};

/// Native code for one Function. Arguments and results are dense row-major buffers whose
/// shapes and dtypes are those of the Function's argument and result nodes.
class Executable {
 public:
  virtual ~Executable() = default;
  /// `arguments[i]` points to argument i's data; `results[j]` to caller-allocated storage.
  virtual void run(void* const* arguments, void* const* results) const = 0;
  /// `run`, telling `listener` of results as soon as they are final; a result not told of is
  /// final when the run returns. A schedule of kernels tells of each result after the kernel
  /// that computes it; the default (one function, the interpreter) tells of none.
  virtual void run(void* const* arguments, void* const* results, RunListener& listener) const;
  /// `run` on these buffers, which must outlive the BoundRun, as often as called. The default
  /// keeps the pointers and calls `run`.
  virtual std::unique_ptr<BoundRun> bind(std::vector<void*> arguments, std::vector<void*> results) const;
  /// Wall time spent building, optimizing and JIT-compiling, in seconds.
  virtual double compile_seconds() const = 0;
  /// Kernel counts and stage times; one kernel and no cache for a whole-graph executable.
  virtual CompileStats stats() const { return {1, 1, 0, 1, 1, 0, compile_seconds(), 0, 0, 0, 0}; }
};

/// Forgets the kernels this process compiled or loaded, and the MLIR contexts and pipelines kept
/// for the next compile (the disk cache keeps its entries): the next compile starts as a new
/// process would, given an empty ZEPHYR_CACHE_DIR. For measuring cold compiles.
void forget_compiled_kernels();

/// Lowers `function` through MLIR to host code (JIT).
std::shared_ptr<Executable> compile(const Function& function, const Options& options = {});
/// The IR of `function` at `stage`, as text.
std::string lower_to(const Function& function, Stage stage, const Options& options = {});

/// Ahead of time: an object file for the host CPU (PIC) defining `void <function.name>(...)`
/// with one pointer per argument, then one per result (see c_header). It needs only libc (and
/// libm): each distinct kernel once, and the schedule as a C function calling them.
std::string object_file(const Function& function, const Options& options = {});
/// object_file written to `path` atomically.
void compile_to_object(const Function& function, const std::string& path, const Options& options = {});
/// A C header declaring that entry point, with each argument's path, shape and dtype.
/// `parameter_paths`: the arguments that are model parameters (in traced order); the header
/// then also declares a struct of pointers to them and an entry point taking it.
std::string c_header(const Function& function, const std::vector<std::string>& parameter_paths = {});

}  // namespace zephyr::compiler
