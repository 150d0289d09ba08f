// The lowering pipeline: linalg on tensors -> tiled, vectorized -> buffers -> LLVM dialect.
// See docs/compiler.md for the stages and why each pass is where it is.
#include <fmt/format.h>

#include <cstdlib>
#include <thread>

#include "mlir/Conversion/AffineToStandard/AffineToStandard.h"
#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVMPass.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/OpenMPToLLVM/ConvertOpenMPToLLVM.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Conversion/SCFToOpenMP/SCFToOpenMP.h"
#include "mlir/Conversion/UBToLLVM/UBToLLVM.h"
#include "mlir/Conversion/VectorToLLVM/ConvertVectorToLLVMPass.h"
#include "mlir/Conversion/VectorToSCF/VectorToSCF.h"
#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Affine/IR/ValueBoundsOpInterfaceImpl.h"
#include "mlir/Dialect/Arith/IR/ValueBoundsOpInterfaceImpl.h"
#include "mlir/Dialect/Arith/Transforms/BufferDeallocationOpInterfaceImpl.h"
#include "mlir/Dialect/Arith/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/FuncBufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Bufferization/Transforms/OneShotAnalysis.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/Linalg/TransformOps/DialectExtension.h"
#include "mlir/Dialect/Linalg/Transforms/AllInterfaces.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/MemRef/IR/ValueBoundsOpInterfaceImpl.h"
#include "mlir/Dialect/MemRef/Transforms/AllocationOpInterfaceImpl.h"
#include "mlir/Dialect/MemRef/Transforms/BufferViewFlowOpInterfaceImpl.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/OpenMP/OpenMPDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Dialect/SCF/IR/ValueBoundsOpInterfaceImpl.h"
#include "mlir/Dialect/SCF/TransformOps/SCFTransformOps.h"
#include "mlir/Dialect/SCF/Transforms/BufferDeallocationOpInterfaceImpl.h"
#include "mlir/Dialect/SCF/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/IR/TensorInferTypeOpInterfaceImpl.h"
#include "mlir/Dialect/Tensor/IR/TensorTilingInterfaceImpl.h"
#include "mlir/Dialect/Tensor/IR/ValueBoundsOpInterfaceImpl.h"
#include "mlir/Dialect/Tensor/TransformOps/TensorTransformOps.h"
#include "mlir/Dialect/Tensor/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Tensor/Transforms/SubsetInsertionOpInterfaceImpl.h"
#include "mlir/Dialect/Transform/IR/TransformDialect.h"
#include "mlir/Dialect/UB/IR/UBOps.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/Vector/TransformOps/VectorTransformOps.h"
#include "mlir/Dialect/Vector/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Vector/Transforms/SubsetOpInterfaceImpl.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/OpenMP/OpenMPToLLVMIRTranslation.h"
#include "mlir/Transforms/Passes.h"
#include "mlir_internal.h"
#include "passes.h"

namespace zephyr::compiler {
namespace {

void configure(mlir::PassManager& pm, mlir::MLIRContext& context, const Options& options) {
  if (options.print_after_all) {
    context.disableMultithreading();
    pm.enableIRPrinting([](mlir::Pass*, mlir::Operation*) { return false; },
                        [](mlir::Pass*, mlir::Operation*) { return true; }, /*printModuleScope=*/true,
                        /*printAfterOnlyOnChange=*/false);
  }
}

// Fusion, then tiling and vectorization (transforms.mlir). Stops after fusion without `vectorize`.
void add_linalg_passes(mlir::OpPassManager& pm, const Options& options) {
  pm.addPass(mlir::createCanonicalizerPass());
  pm.addPass(create_fuse_elementwise_pass());  // bias + activation: one loop nest
  pm.addPass(mlir::createCanonicalizerPass());
  pm.addPass(mlir::createCSEPass());
  pm.addPass(create_approximate_math_pass());
  if (!options.vectorize) return;
  pm.addPass(create_fold_transposed_lhs_pass());  // Aᵀ·B reads A in place
  pm.addPass(create_pack_aliased_rhs_pass(options.threads));  // large B whose rows collide in L1: packed
  pm.addPass(create_split_long_reductions_pass());  // on one thread too: the same bits on every count
  if (options.threads > 1) {
    pm.addPass(create_mark_threads_pass(options.threads));
    pm.addPass(create_split_matmul_rows_pass(options.threads));
  }
  pm.addPass(create_mark_vectorization_pass());
  pm.addPass(create_tile_and_vectorize_pass(options.threads));
  pm.addPass(mlir::createLoopInvariantSubsetHoistingPass());  // accumulators stay in registers
  pm.addPass(create_lower_vectors_pass());
  pm.addPass(create_split_accumulators_pass());  // matrix-vector rows: FMAs not waiting on each other
}

mlir::LogicalResult copy_as_loops(mlir::OpBuilder& b, mlir::Location loc, mlir::Value from, mlir::Value to) {
  b.create<mlir::linalg::CopyOp>(loc, from, to);
  return mlir::success();
}

// Tensors to memrefs; results become out-parameters; intermediates are freed.
void add_buffer_passes(mlir::OpPassManager& pm) {
  mlir::bufferization::OneShotBufferizationOptions bufferization;
  bufferization.bufferizeFunctionBoundaries = true;
  bufferization.setFunctionBoundaryTypeConversion(mlir::bufferization::LayoutMapOption::IdentityLayoutMap);
  // Copies into strided views (concat, slices) become loops: memref.copy would call memrefCopy
  // from MLIR's runner-utils library, which neither the JIT nor an AOT object carries.
  bufferization.memCpyFn = copy_as_loops;
  pm.addPass(mlir::bufferization::createOneShotBufferizePass(bufferization));
  // Also removes a self-copy that would otherwise call memrefCopy from the runner-utils library.
  pm.addPass(mlir::createCanonicalizerPass());
  pm.addPass(mlir::createCSEPass());
  pm.addPass(mlir::createCanonicalizerPass());
  pm.addPass(create_separate_returned_buffers_pass());
  mlir::bufferization::BufferResultsToOutParamsOpts out_params;
  out_params.hoistStaticAllocs = true;
  out_params.memCpyFn = copy_as_loops;
  pm.addPass(mlir::bufferization::createBufferResultsToOutParamsPass(out_params));
  pm.addPass(mlir::createCanonicalizerPass());
  // Intermediates are freed at the end of each call, so repeated calls do not grow memory.
  mlir::bufferization::BufferDeallocationPipelineOptions dealloc;
  mlir::bufferization::buildBufferDeallocationPipeline(pm, dealloc);
  pm.addPass(mlir::createCanonicalizerPass());
}

void add_llvm_passes(mlir::OpPassManager& pm, const Options& options) {
  pm.addPass(create_math_to_libm_pass());
  if (options.threads > 1) {
    // Row blocks run on OpenMP threads; the canonicalization merges the blocks that
    // memref.alloca_scope would otherwise leave (and fail verification).
    pm.addPass(mlir::createForallToParallelLoopPass());
    pm.addPass(mlir::createConvertSCFToOpenMPPass());
    pm.addPass(mlir::createCanonicalizerPass());
  } else {
    pm.addPass(mlir::createForallToForLoopPass());  // the emitter's (emit_linalg.cpp: concat)
  }
  pm.addNestedPass<mlir::func::FuncOp>(mlir::createConvertLinalgToLoopsPass());
  mlir::VectorTransferToSCFOptions to_scf;
  to_scf.enableFullUnroll(true);  // otherwise n-d transfers put allocas inside loops
  pm.addNestedPass<mlir::func::FuncOp>(mlir::createConvertVectorToSCFPass(to_scf));
  pm.addPass(mlir::createLowerAffinePass());
  pm.addPass(mlir::createConvertSCFToCFPass());
  pm.addPass(mlir::memref::createExpandStridedMetadataPass());
  pm.addPass(mlir::createLowerAffinePass());
  pm.addPass(mlir::createConvertVectorToLLVMPass());
  pm.addPass(mlir::createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(mlir::createArithToLLVMConversionPass());
  pm.addPass(mlir::createConvertMathToLLVMPass());
  mlir::ConvertFuncToLLVMPassOptions func_options;
  func_options.useBarePtrCallConv = true;  // static shapes: plain pointers, the AOT header's ABI
  pm.addPass(mlir::createConvertFuncToLLVMPass(func_options));
  pm.addPass(mlir::createConvertControlFlowToLLVMPass());
  if (options.threads > 1) pm.addPass(mlir::createConvertOpenMPToLLVMPass());
  pm.addPass(mlir::createUBToLLVMConversionPass());
  pm.addPass(mlir::createReconcileUnrealizedCastsPass());
  pm.addPass(mlir::createCanonicalizerPass());
}

// zephyr-opt's spelling of the stages: --zephyr-to-linalg="threads=2", and so on.
struct PipelineOptions : mlir::PassPipelineOptions<PipelineOptions> {
  Option<int> threads{*this, "threads", llvm::cl::desc("Thread count"), llvm::cl::init(1)};
  Option<bool> vectorize{*this, "vectorize", llvm::cl::desc("Tile and vectorize"), llvm::cl::init(true)};
  Options options() const {
    Options o;
    o.threads = threads;
    o.vectorize = vectorize;
    return o;
  }
};

}  // namespace

mlir::DialectRegistry dialect_registry() {
  mlir::DialectRegistry registry;
  registry.insert<mlir::affine::AffineDialect, mlir::arith::ArithDialect, mlir::bufferization::BufferizationDialect,
                  mlir::cf::ControlFlowDialect, mlir::func::FuncDialect, mlir::linalg::LinalgDialect,
                  mlir::LLVM::LLVMDialect, mlir::math::MathDialect, mlir::memref::MemRefDialect,
                  mlir::scf::SCFDialect, mlir::tensor::TensorDialect, mlir::transform::TransformDialect,
                  mlir::ub::UBDialect, mlir::vector::VectorDialect, mlir::omp::OpenMPDialect>();
  mlir::linalg::registerAllDialectInterfaceImplementations(registry);
  mlir::linalg::registerTransformDialectExtension(registry);
  mlir::scf::registerTransformDialectExtension(registry);
  mlir::tensor::registerTransformDialectExtension(registry);
  mlir::vector::registerTransformDialectExtension(registry);
  mlir::affine::registerValueBoundsOpInterfaceExternalModels(registry);
  mlir::arith::registerValueBoundsOpInterfaceExternalModels(registry);
  mlir::memref::registerValueBoundsOpInterfaceExternalModels(registry);
  mlir::scf::registerValueBoundsOpInterfaceExternalModels(registry);
  mlir::tensor::registerValueBoundsOpInterfaceExternalModels(registry);
  mlir::tensor::registerInferTypeOpInterfaceExternalModels(registry);
  mlir::tensor::registerTilingInterfaceExternalModels(registry);
  mlir::tensor::registerSubsetOpInterfaceExternalModels(registry);
  mlir::vector::registerSubsetOpInterfaceExternalModels(registry);
  mlir::arith::registerBufferizableOpInterfaceExternalModels(registry);
  mlir::arith::registerBufferDeallocationOpInterfaceExternalModels(registry);
  mlir::bufferization::func_ext::registerBufferizableOpInterfaceExternalModels(registry);
  mlir::memref::registerAllocationOpInterfaceExternalModels(registry);
  mlir::memref::registerBufferViewFlowOpInterfaceExternalModels(registry);
  mlir::scf::registerBufferizableOpInterfaceExternalModels(registry);
  mlir::scf::registerBufferDeallocationOpInterfaceExternalModels(registry);
  mlir::tensor::registerBufferizableOpInterfaceExternalModels(registry);
  mlir::vector::registerBufferizableOpInterfaceExternalModels(registry);
  mlir::registerBuiltinDialectTranslation(registry);
  mlir::registerLLVMDialectTranslation(registry);
  mlir::registerOpenMPDialectTranslation(registry);
  return registry;
}

std::unique_ptr<mlir::MLIRContext> make_context() {
  mlir::DialectRegistry registry = dialect_registry();
  // No thread pool: a module holds one function, and a pool per context (one per kernel) costs
  // thread start-ups for nothing; kernels compile in parallel one level up.
  auto context = std::make_unique<mlir::MLIRContext>(registry, mlir::MLIRContext::Threading::DISABLED);
  context->loadAllAvailableDialects();
  return context;
}

int default_threads() {
  if (const char* env = std::getenv("ZEPHYR_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n >= 1) return n;
  }
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

Lowering::Lowering(mlir::MLIRContext& context, Stage stage, const Options& options)
    : passes_(std::make_unique<mlir::PassManager>(&context)), stage_(stage) {
  if (stage <= Stage::mlir) return;
  // The module is verified once, after the last pass, not after each of the ~45: verifying was
  // a tenth of a kernel's compile. --print-after-all (debugging the pipeline) verifies each.
  passes_->enableVerifier(options.print_after_all);
  configure(*passes_, context, options);
  add_linalg_passes(*passes_, options);
  if (stage >= Stage::bufferized) add_buffer_passes(*passes_);
  if (stage >= Stage::llvm_dialect) add_llvm_passes(*passes_, options);
}

Lowering::~Lowering() = default;

void Lowering::run(mlir::ModuleOp module) {
  if (stage_ <= Stage::mlir) return;
  if (mlir::failed(passes_->run(module)) || mlir::failed(mlir::verify(module)))
    throw Error(fmt::format("[compile] internal error: the passes up to stage '{}' failed", stage_name(stage_)));
}

void lower_module(mlir::ModuleOp module, Stage stage, const Options& options) {
  Lowering(*module.getContext(), stage, options).run(module);
}

void register_pipelines() {
  mlir::PassPipelineRegistration<PipelineOptions>(
      "zephyr-to-linalg", "zephyr's lowering up to the linalg stage: fusion, tiling, vectorization",
      [](mlir::OpPassManager& pm, const PipelineOptions& o) { add_linalg_passes(pm, o.options()); });
  mlir::PassPipelineRegistration<>("zephyr-to-buffers", "zephyr's bufferization: results as out-parameters",
                                   [](mlir::OpPassManager& pm) { add_buffer_passes(pm); });
  mlir::PassPipelineRegistration<PipelineOptions>(
      "zephyr-to-llvm", "zephyr's lowering of buffers to the LLVM dialect (bare-pointer calls)",
      [](mlir::OpPassManager& pm, const PipelineOptions& o) { add_llvm_passes(pm, o.options()); });
}

std::string print_module(mlir::ModuleOp module, bool locations) {
  std::string text;
  llvm::raw_string_ostream os(text);
  mlir::OpPrintingFlags flags;
  if (locations) flags.enableDebugInfo(true, /*prettyForm=*/false);
  module.print(os, flags);
  return text;
}

}  // namespace zephyr::compiler
