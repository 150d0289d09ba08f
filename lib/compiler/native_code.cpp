// LLVM dialect -> native code: the JIT (ExecutionEngine), LLVM IR and assembly dumps.
#include <fmt/format.h>

#include <chrono>
#include <map>
#include <tuple>
#include <mutex>

#include "llvm/Config/llvm-config.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "../core/env.h"
#include "../core/buffer_pool.h"
#include "../primitives/primitive.h"
#include "flush_denormals.h"
#include "mlir_internal.h"
#include "llvm_support.h"
#include "native_code.h"
#include "scheduled_executable.h"

namespace zephyr::compiler {
namespace {

// Measured on the 2-block LM's Adam step (103 kernels, one thread): loop strength reduction was
// a quarter of code generation, and turning it off changed neither the step time nor the matmul
// rows of `zephyr bench`; MLIR's tiles already index with plain affine offsets. LLVM offers it only
// as a command-line option, so it is set once, before the first compile, in this process's LLVM.
void initialize_llvm() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::StringMap<llvm::cl::Option*>& options = llvm::cl::getRegisteredOptions();
    if (auto it = options.find("disable-lsr"); it != options.end()) it->second->addOccurrence(0, "disable-lsr", "true");
  });
}

// LLVM's -O2 without its loop unrolling: MLIR has already tiled, vectorized and unrolled the hot
// loops, and LLVM's unroller only multiplied the code. Measured on the 2-block LM's step: the
// objects halve and the compile takes 45 % less, with the same step time and matmul GFLOP/s (an
// earlier measurement on the CNN step: O3 gave 81k lines of LLVM IR and a 34 s compile, O2 28k).
constexpr const char* kLlvmPipeline = "O2 without loop unrolling or LSR";  // part of the cache key

struct LoweredModule {
  std::unique_ptr<mlir::MLIRContext> context;
  mlir::OwningOpRef<mlir::ModuleOp> module;
};

LoweredModule lower(const Function& function, Stage stage, const Options& options) {
  LoweredModule out;
  out.context = make_context();
  out.module = emit_module(*out.context, function);
  lower_module(*out.module, stage, options);
  return out;
}

class JitExecutable final : public Executable {
 public:
  JitExecutable(const Function& function, const Options& requested) {
    const Options options = resolved(requested, true);
    flush_denormals_ = options.flush_denormals;
    auto start = std::chrono::steady_clock::now();
    LoweredModule lowered = lower(function, Stage::llvm_dialect, options);
    std::unique_ptr<llvm::TargetMachine> machine = host_target_machine();
    // The transformer is a function_ref: it must outlive create(). The engine owns the machine.
    llvm::TargetMachine* target = machine.get();
    auto transform = [target](llvm::Module* module) {
      optimize(*module, *target);
      return llvm::Error::success();
    };
    mlir::ExecutionEngineOptions engine_options;
    engine_options.transformer = transform;
    engine_options.jitCodeGenOptLevel = llvm::CodeGenOptLevel::Aggressive;
    engine_options.enableGDBNotificationListener = false;
    // ZEPHYR_PERF=1 names compiled functions for `perf record -k 1` + `perf inject --jit`.
    engine_options.enablePerfNotificationListener = detail::env_flag("ZEPHYR_PERF");
    // Threaded code calls the OpenMP runtime (__kmpc_*): LLVM's libomp, from libomp-19-dev.
    llvm::SmallVector<llvm::StringRef, 1> libraries;
    if (options.threads > 1) libraries.push_back(kOpenMpRuntime);
    engine_options.sharedLibPaths = libraries;
    auto engine = mlir::ExecutionEngine::create(*lowered.module, engine_options, std::move(machine));
    if (!engine) throw Error("[compile] JIT compilation failed: " + error_text(engine.takeError()));
    engine_ = std::move(*engine);
    // Intermediate buffers come from a pool that reuses blocks across calls (buffer_pool.h).
    engine_->registerSymbols([](llvm::orc::MangleAndInterner interner) {
      llvm::orc::SymbolMap symbols;
      symbols[interner("malloc")] = {llvm::orc::ExecutorAddr::fromPtr(&buffer_pool::allocate),
                                     llvm::JITSymbolFlags::Exported};
      symbols[interner("free")] = {llvm::orc::ExecutorAddr::fromPtr(&buffer_pool::release),
                                   llvm::JITSymbolFlags::Exported};
      return symbols;
    });
    auto entry = engine_->lookupPacked(function.name);
    if (!entry) throw Error("[compile] entry point not found: " + error_text(entry.takeError()));
    entry_ = *entry;
    arity_ = function.arguments.size();
    results_ = function.results.size();
    seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

  void run(void* const* arguments, void* const* results) const override {
    const FlushDenormals flush(flush_denormals_);
    // The packed wrapper takes one pointer per argument, each pointing at the argument's value
    // (here a bare data pointer: static shapes use the bare-pointer calling convention).
    llvm::SmallVector<void*, 16> pointers(arguments, arguments + arity_);
    pointers.append(results, results + results_);
    llvm::SmallVector<void*, 16> packed;
    for (void*& p : pointers) packed.push_back(&p);
    entry_(packed.data());
  }

  double compile_seconds() const override { return seconds_; }

 private:
  std::unique_ptr<mlir::ExecutionEngine> engine_;
  void (*entry_)(void**) = nullptr;
  bool flush_denormals_ = true;
  size_t arity_ = 0, results_ = 0;
  double seconds_ = 0;
};

// `void <name>_packed(void** pointers)`: calls <name> with pointers[0..n), so that the schedule
// can call any kernel through one C signature.
void add_packed_entry(llvm::Module& module, const std::string& name) {
  llvm::Function* kernel = module.getFunction(name);
  if (!kernel) throw Error(fmt::format("[compile] internal error: kernel '{}' missing from its module", name));
  llvm::LLVMContext& context = module.getContext();
  llvm::Type* pointer = llvm::PointerType::getUnqual(context);
  auto* type = llvm::FunctionType::get(llvm::Type::getVoidTy(context), {pointer}, false);
  auto* packed = llvm::Function::Create(type, llvm::Function::ExternalLinkage, name + "_packed", module);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(context, "entry", packed));
  llvm::SmallVector<llvm::Value*> arguments;
  for (unsigned i = 0; i < kernel->arg_size(); ++i)
    arguments.push_back(b.CreateLoad(pointer, b.CreateConstGEP1_64(pointer, packed->getArg(0), i)));
  b.CreateCall(kernel, arguments);
  b.CreateRetVoid();
}

}  // namespace

Options resolved(Options options, bool jit) {
  if (options.threads <= 0) options.threads = jit ? default_threads() : 1;
  return options;
}

std::string error_text(llvm::Error error) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << error;
  return text;
}

std::unique_ptr<llvm::TargetMachine> host_target_machine() {
  initialize_llvm();
  auto builder = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!builder) throw Error("[compile] cannot detect the host CPU: " + error_text(builder.takeError()));
  builder->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  builder->setRelocationModel(llvm::Reloc::PIC_);
  auto machine = builder->createTargetMachine();
  if (!machine) throw Error("[compile] cannot create a target machine: " + error_text(machine.takeError()));
  return std::move(*machine);
}

std::unique_ptr<llvm::Module> translate(mlir::ModuleOp module, llvm::LLVMContext& context,
                                        llvm::TargetMachine& machine) {
  std::unique_ptr<llvm::Module> out = mlir::translateModuleToLLVMIR(module, context);
  if (!out) throw Error("[compile] internal error: translation to LLVM IR failed");
  out->setTargetTriple(machine.getTargetTriple().str());
  out->setDataLayout(machine.createDataLayout());
  return out;
}

void optimize(llvm::Module& module, llvm::TargetMachine& machine) {
  llvm::PipelineTuningOptions tuning;
  tuning.LoopUnrolling = false;
  llvm::PassBuilder builder(&machine, tuning);
  llvm::LoopAnalysisManager loops;
  llvm::FunctionAnalysisManager functions;
  llvm::CGSCCAnalysisManager sccs;
  llvm::ModuleAnalysisManager modules;
  builder.registerModuleAnalyses(modules);
  builder.registerCGSCCAnalyses(sccs);
  builder.registerFunctionAnalyses(functions);
  builder.registerLoopAnalyses(loops);
  builder.crossRegisterProxies(loops, functions, sccs, modules);
  builder.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O2).run(module, modules);
}

std::string object_code(llvm::Module& module, llvm::TargetMachine& machine) {
  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream os(buffer);
  llvm::legacy::PassManager pm;
  if (machine.addPassesToEmitFile(pm, os, nullptr, llvm::CodeGenFileType::ObjectFile))
    throw Error("[compile] the target cannot emit object files");
  pm.run(module);
  return std::string(buffer.begin(), buffer.end());
}

std::string assembly(llvm::Module& module, llvm::TargetMachine& machine) {
  llvm::SmallString<0> text;
  llvm::raw_svector_ostream os(text);
  llvm::legacy::PassManager pm;
  if (machine.addPassesToEmitFile(pm, os, nullptr, llvm::CodeGenFileType::AssemblyFile))
    throw Error("[compile] the target cannot emit assembly");
  pm.run(module);
  return std::string(text.str());
}

std::shared_ptr<Executable> compile(const Function& function, const Options& options) {
  zephyr::verify(function);  // a malformed graph is an error naming its op, not a bad kernel
  static const bool kernels_off = [] {
    const char* v = std::getenv("ZEPHYR_KERNELS");
    return v != nullptr && std::string_view(v) == "0";
  }();
  // perf's JIT listener is wired into the whole-graph engine only: ZEPHYR_PERF=1 profiles that.
  if (options.kernels && !kernels_off && !detail::env_flag("ZEPHYR_PERF"))
    return compile_scheduled(function, resolved(options, true));
  return std::make_shared<JitExecutable>(function, options);
}

namespace {

// What compiling a batch of kernels needs besides the kernels: an MLIR context, a target machine
// and the pipeline for each option set. Making them is a fixed cost (loading the dialects,
// gathering every canonicalization pattern) that would otherwise be a large part of a small
// model's compile, so they outlive the threads that use them: a compiling thread takes one from
// the idle list and gives it back, and the next compile (of this or another function) reuses it.
struct Toolchain {
  std::unique_ptr<mlir::MLIRContext> context = make_context();
  std::unique_ptr<llvm::TargetMachine> machine = host_target_machine();
  std::map<std::tuple<int, bool, bool>, Lowering> pipelines;  // by the options that shape the pipeline

  Lowering& pipeline(const Options& options) {
    const auto key = std::tuple{options.threads, options.vectorize, options.print_after_all};
    return pipelines.try_emplace(key, *context, Stage::llvm_dialect, options).first->second;
  }
};

class Toolchains {
 public:
  std::unique_ptr<Toolchain> take() {
    {
      std::lock_guard lock(mutex_);
      if (!idle_.empty()) {
        std::unique_ptr<Toolchain> t = std::move(idle_.back());
        idle_.pop_back();
        return t;
      }
    }
    return std::make_unique<Toolchain>();  // outside the lock: making one takes milliseconds
  }
  void give_back(std::unique_ptr<Toolchain> t) {
    std::lock_guard lock(mutex_);
    idle_.push_back(std::move(t));
  }
  void clear() {
    std::lock_guard lock(mutex_);
    idle_.clear();
  }

 private:
  std::mutex mutex_;
  std::vector<std::unique_ptr<Toolchain>> idle_;
};

Toolchains& toolchains() {
  static Toolchains* instance = new Toolchains;  // never destroyed: compiles may run until exit
  return *instance;
}

}  // namespace

void forget_toolchains() { toolchains().clear(); }

KernelObject kernel_object(std::span<const Function> kernels, const Options& options) {
  using Clock = std::chrono::steady_clock;
  auto since = [](Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); };
  KernelObject out;
  auto t = Clock::now();
  std::unique_ptr<Toolchain> tools = toolchains().take();
  struct GiveBack {
    std::unique_ptr<Toolchain>& tools;
    ~GiveBack() { toolchains().give_back(std::move(tools)); }
  } give_back{tools};
  mlir::OwningOpRef<mlir::ModuleOp> lowered = emit_module(*tools->context, kernels);
  tools->pipeline(options).run(*lowered);
  out.mlir_seconds = since(t);
  t = Clock::now();
  llvm::LLVMContext context;
  std::unique_ptr<llvm::Module> module = translate(*lowered, context, *tools->machine);
  optimize(*module, *tools->machine);
  for (const Function& kernel : kernels) add_packed_entry(*module, kernel.name);
  out.llvm_seconds = since(t);
  t = Clock::now();
  out.object = object_code(*module, *tools->machine);
  out.codegen_seconds = since(t);
  return out;
}

std::string target_description() {
  std::unique_ptr<llvm::TargetMachine> machine = host_target_machine();
  return fmt::format("llvm {} {} {} {} {}", LLVM_VERSION_STRING, machine->getTargetTriple().str(),
                     machine->getTargetCPU().str(), kLlvmPipeline, machine->getTargetFeatureString().str());
}

}  // namespace zephyr::compiler
