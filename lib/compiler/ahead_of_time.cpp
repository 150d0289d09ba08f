// A function as kernels plus a schedule, in one module: the ahead-of-time object (libc only) and
// the IR dumps of `zephyr ir --stage`. The schedule becomes a plain C function that calls each
// kernel in turn over buffers planned by buffer_plan.h, so identical layers share one kernel.
#include <fmt/format.h>

#include "../primitives/primitive.h"
#include "buffer_plan.h"
#include "flush_denormals.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/IntrinsicsX86.h"
#include "llvm/TargetParser/Triple.h"
#include "llvm_support.h"
#include "mlir_internal.h"
#include "native_code.h"
#include "partition.h"
#include "zephyr/io/atomic_file.h"

namespace zephyr::compiler {
namespace {

std::string value_name(const Schedule& s, size_t v) {
  return v < s.arguments ? fmt::format("%arg{}", v) : fmt::format("%v{}", v - s.arguments);
}

std::string type_text(const Schedule::Value& value) {
  return fmt::format("{}{}", name(value.dtype), to_string(value.shape));
}

// The schedule as text: one line per kernel call, then what is returned.
std::string schedule_text(const Schedule& s, const std::string& entry, const char* comment) {
  std::string out = fmt::format("{} schedule @{}: {} kernel calls, {} distinct kernels\n", comment, entry,
                                s.calls.size(), s.kernels.size());
  for (const KernelCall& call : s.calls) {
    std::vector<std::string> inputs, outputs, types;
    for (size_t in : call.inputs) inputs.push_back(value_name(s, in));
    for (size_t v : call.outputs) outputs.push_back(value_name(s, v)), types.push_back(type_text(s.values[v]));
    out += fmt::format("{}   {} = @{}({}) : {}\n", comment, fmt::join(outputs, ", "), s.kernels[call.kernel].name,
                       fmt::join(inputs, ", "), fmt::join(types, ", "));
  }
  std::vector<std::string> results;
  for (size_t r : s.results) results.push_back(value_name(s, r));
  return out + fmt::format("{}   return {}\n", comment, fmt::join(results, ", "));
}

// `void <entry>(arguments..., results...)`, one pointer each: runs the schedule's calls in order.
// Intermediate values live in one aligned_alloc'd arena, at the places buffer_plan.h assigns by
// lifetime; results are written in place by the call that computes them where possible, else
// copied at the end.
// With `flush_denormals` on x86, it runs with MXCSR's flush-to-zero and denormals-are-zero set,
// and restores the caller's MXCSR before returning, as the JIT's runs do (flush_denormals.h).
void add_schedule_function(llvm::Module& module, const Schedule& s, const std::string& entry, bool flush_denormals) {
  const BufferPlan plan = plan_buffers(s);
  llvm::LLVMContext& context = module.getContext();
  llvm::Type* pointer = llvm::PointerType::getUnqual(context);
  llvm::Type* i64 = llvm::Type::getInt64Ty(context);
  llvm::Type* void_type = llvm::Type::getVoidTy(context);
  std::vector<llvm::Type*> parameters(s.arguments + s.results.size(), pointer);
  auto* function = llvm::Function::Create(llvm::FunctionType::get(void_type, parameters, false),
                                          llvm::Function::ExternalLinkage, entry, module);
  llvm::FunctionCallee allocate =
      module.getOrInsertFunction("aligned_alloc", llvm::FunctionType::get(pointer, {i64, i64}, false));
  llvm::FunctionCallee release = module.getOrInsertFunction("free", llvm::FunctionType::get(void_type, {pointer}, false));
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(context, "entry", function));
  std::vector<llvm::Value*> at(s.values.size(), nullptr);
  for (size_t i = 0; i < s.arguments; ++i) at[i] = function->getArg(static_cast<unsigned>(i));
  llvm::Value* saved_csr = nullptr;
  if (flush_denormals && llvm::Triple(module.getTargetTriple()).isX86()) {
    saved_csr = b.CreateAlloca(b.getInt32Ty(), nullptr, "saved_mxcsr");
    llvm::Value* flushed = b.CreateAlloca(b.getInt32Ty(), nullptr, "flushed_mxcsr");
    b.CreateCall(llvm::Intrinsic::getDeclaration(&module, llvm::Intrinsic::x86_sse_stmxcsr), {saved_csr});
    b.CreateStore(b.CreateOr(b.CreateLoad(b.getInt32Ty(), saved_csr), b.getInt32(FlushDenormals::kBits)), flushed);
    b.CreateCall(llvm::Intrinsic::getDeclaration(&module, llvm::Intrinsic::x86_sse_ldmxcsr), {flushed});
  }
  // aligned_alloc wants a multiple of the alignment, which the plan's arena size is.
  llvm::Value* arena = plan.arena_bytes == 0 ? nullptr
                                             : b.CreateCall(allocate, {b.getInt64(BufferPlan::kAlignment),
                                                                       b.getInt64(plan.arena_bytes)});
  for (size_t c = 0; c < s.calls.size(); ++c) {
    const KernelCall& call = s.calls[c];
    for (size_t v : call.outputs) {
      const int direct = plan.direct_result[v];
      if (direct >= 0)
        at[v] = function->getArg(static_cast<unsigned>(s.arguments + direct));
      else
        at[v] = b.CreateConstInBoundsGEP1_64(b.getInt8Ty(), arena, static_cast<uint64_t>(plan.offset[v]));
    }
    llvm::Function* kernel = module.getFunction(s.kernels[call.kernel].name);
    if (!kernel) throw Error(fmt::format("[compile] internal error: kernel '{}' missing", s.kernels[call.kernel].name));
    std::vector<llvm::Value*> operands;
    for (size_t in : call.inputs) operands.push_back(at[in]);
    for (size_t v : call.outputs) operands.push_back(at[v]);
    b.CreateCall(kernel, operands);
  }
  for (size_t r = 0; r < s.results.size(); ++r)
    if (plan.copied[r])
      b.CreateMemCpy(function->getArg(static_cast<unsigned>(s.arguments + r)), llvm::MaybeAlign(), at[s.results[r]],
                     llvm::MaybeAlign(), plan.bytes[s.results[r]]);
  if (arena) b.CreateCall(release, {arena});
  if (saved_csr) b.CreateCall(llvm::Intrinsic::getDeclaration(&module, llvm::Intrinsic::x86_sse_ldmxcsr), {saved_csr});
  b.CreateRetVoid();
  // The kernels are this object's own: two models' objects linked into one program must not
  // clash on a kernel they both contain. They stay functions of their own: inlined, a model would
  // become one huge function again, whose optimization costs more than linear time.
  for (const Function& k : s.kernels) {
    llvm::Function* kernel = module.getFunction(k.name);
    kernel->setLinkage(llvm::GlobalValue::InternalLinkage);
    kernel->addFnAttr(llvm::Attribute::NoInline);
  }
}

// The kernels of `s` in one MLIR module, lowered up to `stage` (at most the LLVM dialect).
mlir::OwningOpRef<mlir::ModuleOp> lowered_kernels(mlir::MLIRContext& context, const Schedule& s, Stage stage,
                                                  const Options& options) {
  mlir::OwningOpRef<mlir::ModuleOp> module = emit_module(context, s.kernels);
  lower_module(*module, std::min(stage, Stage::llvm_dialect), options);
  return module;
}

// The whole program as optimized LLVM IR: the kernels, then the schedule (or, without kernels,
// the whole graph as one function).
std::unique_ptr<llvm::Module> program(const Function& function, const Options& options, llvm::LLVMContext& context,
                                      llvm::TargetMachine& machine) {
  std::unique_ptr<mlir::MLIRContext> mlir_context = make_context();
  std::unique_ptr<llvm::Module> module;
  if (options.kernels) {
    const Schedule s = partition(function);
    module = translate(*lowered_kernels(*mlir_context, s, Stage::llvm_dialect, options), context, machine);
    add_schedule_function(*module, s, function.name, options.flush_denormals);
  } else {
    mlir::OwningOpRef<mlir::ModuleOp> lowered = emit_module(*mlir_context, function);
    lower_module(*lowered, Stage::llvm_dialect, options);
    module = translate(*lowered, context, machine);
  }
  optimize(*module, machine);
  return module;
}

}  // namespace

const char* stage_name(Stage stage) {
  switch (stage) {
    case Stage::graph: return "graph";
    case Stage::kernels: return "kernels";
    case Stage::mlir: return "mlir";
    case Stage::linalg: return "linalg";
    case Stage::bufferized: return "bufferized";
    case Stage::llvm_dialect: return "llvm-dialect";
    case Stage::llvm_ir: return "llvm-ir";
    case Stage::assembly: return "asm";
  }
  return "?";
}

Stage parse_stage(const std::string& text) {
  std::vector<std::string> names;
  for (Stage s : {Stage::graph, Stage::kernels, Stage::mlir, Stage::linalg, Stage::bufferized, Stage::llvm_dialect,
                  Stage::llvm_ir, Stage::assembly}) {
    if (text == stage_name(s)) return s;
    names.push_back(stage_name(s));
  }
  throw Error(fmt::format("unknown stage '{}' (valid: {})", text, fmt::join(names, ", ")));
}

std::string lower_to(const Function& function, Stage stage, const Options& requested) {
  zephyr::verify(function);
  const Options options = resolved(requested, false);
  if (stage == Stage::graph) return print_graph(function, options.locations);
  if (stage <= Stage::llvm_dialect) {
    std::unique_ptr<mlir::MLIRContext> context = make_context();
    if (!options.kernels) {
      if (stage == Stage::kernels) throw Error("--stage kernels shows the split into kernels: drop --whole-graph");
      mlir::OwningOpRef<mlir::ModuleOp> module = emit_module(*context, function);
      lower_module(*module, stage, options);
      return print_module(*module, options.locations);
    }
    const Schedule s = partition(function, {.locations = options.locations});
    std::string out = schedule_text(s, function.name, stage == Stage::kernels ? "#" : "//");
    if (stage == Stage::kernels) {
      for (const Function& kernel : s.kernels) out += "\n" + print_graph(kernel, options.locations);
      return out;
    }
    return out + print_module(*lowered_kernels(*context, s, stage, options), options.locations);
  }
  std::unique_ptr<llvm::TargetMachine> machine = host_target_machine();
  llvm::LLVMContext context;
  std::unique_ptr<llvm::Module> module = program(function, options, context, *machine);
  if (stage == Stage::assembly) return assembly(*module, *machine);
  std::string text;
  llvm::raw_string_ostream os(text);
  module->print(os, nullptr);
  return text;
}

std::string object_file(const Function& function, const Options& requested) {
  zephyr::verify(function);
  const Options options = resolved(requested, false);
  std::unique_ptr<llvm::TargetMachine> machine = host_target_machine();
  llvm::LLVMContext context;
  std::unique_ptr<llvm::Module> module = program(function, options, context, *machine);
  return object_code(*module, *machine);
}

void compile_to_object(const Function& function, const std::string& path, const Options& options) {
  io::write_file_atomically(path, object_file(function, options));
}

}  // namespace zephyr::compiler
