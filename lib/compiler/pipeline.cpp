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
#include "mlir/Conversion/MathToLibm/MathToLibm.h"
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
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Approximation.h"
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
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/Dialect/Transform/IR/TransformDialect.h"
#include "mlir/Dialect/Transform/Transforms/TransformInterpreterUtils.h"
#include "mlir/Dialect/UB/IR/UBOps.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/Vector/TransformOps/VectorTransformOps.h"
#include "mlir/Dialect/Vector/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Vector/Transforms/SubsetOpInterfaceImpl.h"
#include "mlir/IR/OperationSupport.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/OpenMP/OpenMPToLLVMIRTranslation.h"
#include "mlir/Transforms/DialectConversion.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Transforms/Passes.h"
#include "mlir_internal.h"

namespace zephyr::compiler {
namespace {

// Matmul tiling, after the recipe measured in shared/toolchain.md: cache tiles (32, 512, 256),
// register tiles (8, 32, 1), then contractions as broadcast + FMA. Remainders are peeled at both
// levels (N before M: peeling consumes the handle), so that after canonicalization every tile
// has a static shape and is vectorized: no remainder falls back to scalar loops.
constexpr const char* kTransformScript = R"mlir(
module attributes {transform.with_named_sequence} {
  transform.named_sequence @peel(%loop: !transform.any_op {transform.consumed}) {
    transform.sequence %loop : !transform.any_op failures(suppress) {
    ^bb0(%l: !transform.any_op):
      %for = transform.cast %l : !transform.any_op to !transform.op<"scf.for">
      %main, %rest = transform.loop.peel %for : (!transform.op<"scf.for">) -> (!transform.any_op, !transform.any_op)
    }
    transform.yield
  }
  transform.named_sequence @tile_cache(%mm: !transform.any_op {transform.consumed}) {
    %cache, %c0, %c1, %c2 = transform.structured.tile_using_for %mm tile_sizes [32, 512, 256]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op, !transform.any_op)
    transform.include @peel failures(propagate) (%c1) : (!transform.any_op) -> ()
    transform.include @peel failures(propagate) (%c0) : (!transform.any_op) -> ()
    transform.yield
  }
  transform.named_sequence @tile_registers(%mm: !transform.any_op {transform.consumed}) {
    %reg, %r0, %r1, %r2 = transform.structured.tile_using_for %mm tile_sizes [8, 32, 1]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op, !transform.any_op)
    transform.include @peel failures(propagate) (%r1) : (!transform.any_op) -> ()
    transform.include @peel failures(propagate) (%r0) : (!transform.any_op) -> ()
    transform.yield
  }
  // Matmuls and elementwise nests marked in to_linalg (enough rows and work to share) are first
  // split into one row block per thread; each matmul block is then tiled like any other matmul.
  transform.named_sequence @split_rows(%mm: !transform.any_op {transform.consumed}) {
    %block, %forall = transform.structured.tile_using_forall %mm num_threads [THREADS]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    transform.yield
  }
  // Transposes (of a matrix, marked zephyr.tile_transpose in to_linalg) move 16x16 blocks
  // through registers instead of striding through memory element by element; the edges are
  // peeled into static smaller blocks.
  transform.named_sequence @tile_transpose(%t: !transform.any_op {transform.consumed}) {
    %tile, %l0, %l1 = transform.structured.tile_using_for %t tile_sizes [16, 16]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op)
    transform.include @peel failures(propagate) (%l1) : (!transform.any_op) -> ()
    transform.include @peel failures(propagate) (%l0) : (!transform.any_op) -> ()
    transform.yield
  }
ELEMENTWISE_SEQUENCES
  transform.named_sequence @vectorize_one(%op: !transform.any_op {transform.consumed}) {
    transform.sequence %op : !transform.any_op failures(suppress) {
    ^bb0(%target: !transform.any_op):
      transform.structured.vectorize %target : !transform.any_op
    }
    transform.yield
  }
  transform.named_sequence @tile_and_vectorize(%root: !transform.any_op {transform.readonly}) {
    %shared = transform.structured.match attributes {zephyr.parallel} in %root
        : (!transform.any_op) -> !transform.any_op
    transform.foreach %shared : !transform.any_op {
    ^bb0(%mm: !transform.any_op):
      transform.include @split_rows failures(propagate) (%mm) : (!transform.any_op) -> ()
    }
    %transposes = transform.structured.match attributes {zephyr.tile_transpose} in %root
        : (!transform.any_op) -> !transform.any_op
    transform.foreach %transposes : !transform.any_op {
    ^bb0(%t: !transform.any_op):
      transform.include @tile_transpose failures(propagate) (%t) : (!transform.any_op) -> ()
    }
ELEMENTWISE_TILING
    %mms = transform.structured.match ops{["linalg.matmul"]} in %root : (!transform.any_op) -> !transform.any_op
    transform.foreach %mms : !transform.any_op {
    ^bb0(%mm: !transform.any_op):
      transform.include @tile_cache failures(propagate) (%mm) : (!transform.any_op) -> ()
    }
    // Folds the affine.min of tiles that now divide (and single-iteration peeled loops), so that
    // tile shapes become static.
    %funcs0 = transform.structured.match ops{["func.func"]} in %root : (!transform.any_op) -> !transform.any_op
    transform.apply_patterns to %funcs0 {
      transform.apply_patterns.canonicalization
    } : !transform.any_op
    %cache_tiles = transform.structured.match ops{["linalg.matmul"]} in %root : (!transform.any_op) -> !transform.any_op
    transform.foreach %cache_tiles : !transform.any_op {
    ^bb0(%mm: !transform.any_op):
      transform.include @tile_registers failures(propagate) (%mm) : (!transform.any_op) -> ()
    }
    transform.apply_patterns to %funcs0 {
      transform.apply_patterns.canonicalization
    } : !transform.any_op
    %tiles = transform.structured.match ops{["linalg.matmul"]} in %root : (!transform.any_op) -> !transform.any_op
    transform.foreach %tiles : !transform.any_op {
    ^bb0(%t: !transform.any_op):
      transform.include @vectorize_one failures(suppress) (%t) : (!transform.any_op) -> ()
    }
    %elementwise_tiles = transform.structured.match attributes {zephyr.elementwise} in %root
        : (!transform.any_op) -> !transform.any_op
    transform.foreach %elementwise_tiles : !transform.any_op {
    ^bb0(%t: !transform.any_op):
      transform.include @vectorize_one failures(suppress) (%t) : (!transform.any_op) -> ()
    }
    %transpose_tiles = transform.structured.match attributes {zephyr.tile_transpose} in %root
        : (!transform.any_op) -> !transform.any_op
    transform.foreach %transpose_tiles : !transform.any_op {
    ^bb0(%t: !transform.any_op):
      transform.include @vectorize_one failures(suppress) (%t) : (!transform.any_op) -> ()
    }
    %funcs = transform.structured.match ops{["func.func"]} in %root : (!transform.any_op) -> !transform.any_op
    transform.apply_patterns to %funcs {
      transform.apply_patterns.vector.transfer_permutation_patterns
    } : !transform.any_op
    // Separately: together with canonicalization, the k=1 reduction gets scalarized (half speed).
    transform.apply_patterns to %funcs {
      transform.apply_patterns.vector.reduction_to_contract
    } : !transform.any_op
    transform.apply_patterns to %funcs {
      transform.apply_patterns.tensor.fold_tensor_subset_ops_into_vector_transfers
      transform.apply_patterns.canonicalization
    } : !transform.any_op
    transform.yield
  }
  // After loop-invariant subset hoisting: vector ops down to what LLVM lowers well.
  transform.named_sequence @lower_vectors(%root: !transform.any_op {transform.readonly}) {
    %funcs = transform.structured.match ops{["func.func"]} in %root : (!transform.any_op) -> !transform.any_op
    transform.apply_patterns to %funcs {
      transform.apply_patterns.vector.lower_contraction lowering_strategy = "outerproduct"
      transform.apply_patterns.vector.lower_masks
      transform.apply_patterns.vector.rank_reducing_subview_patterns
      transform.apply_patterns.vector.cast_away_vector_leading_one_dim
    } : !transform.any_op
    transform.apply_patterns to %funcs {
      transform.apply_patterns.vector.transfer_permutation_patterns
    } : !transform.any_op
    transform.apply_patterns to %funcs {
      transform.apply_patterns.vector.lower_transpose lowering_strategy = "shuffle_16x16"
    } : !transform.any_op
    transform.apply_patterns to %funcs {
      transform.apply_patterns.vector.lower_transfer max_transfer_rank = 1
      transform.apply_patterns.vector.lower_transpose lowering_strategy = "shuffle_1d"
      transform.apply_patterns.vector.lower_shape_cast
      transform.apply_patterns.vector.lower_outerproduct
      transform.apply_patterns.canonicalization
    } : !transform.any_op
    transform.yield
  }
}
)mlir";

void run(mlir::PassManager& pm, mlir::ModuleOp module, const char* what) {
  if (mlir::failed(pm.run(module)))
    throw Error(fmt::format("[compile] internal error: the {} passes failed", what));
}

void configure(mlir::PassManager& pm, mlir::ModuleOp module, const Options& options) {
  if (options.print_after_all) {
    module.getContext()->disableMultithreading();
    pm.enableIRPrinting([](mlir::Pass*, mlir::Operation*) { return false; },
                        [](mlir::Pass*, mlir::Operation*) { return true; }, /*printModuleScope=*/true,
                        /*printAfterOnlyOnChange=*/false);
  }
}

// Elementwise nests (marked zephyr.elementwise_<rank> in to_linalg) are vectorized 16 lanes
// along the innermost axis, the remainder peeled into a smaller static vector, instead of leaving
// scalar loops for LLVM's loop vectorizer (runtime alias checks, epilogues, and most of a training
// step's compile time). Tile sizes depend on the rank, so the script gets one sequence per rank
// (@tile_elementwise_<rank>), and the part of @tile_and_vectorize that applies them.
constexpr int kMaxElementwiseRank = 4;

std::string elementwise_sequences() {
  std::string out;
  for (int rank = 1; rank <= kMaxElementwiseRank; ++rank) {
    std::string sizes, loops, types;
    for (int d = 0; d < rank; ++d) {
      sizes += d + 1 < rank ? "1, " : "16";
      loops += fmt::format(", %l{}", d);
      types += ", !transform.any_op";
    }
    out += fmt::format(R"(  transform.named_sequence @tile_elementwise_{0}(%op: !transform.any_op {{transform.consumed}}) {{
    %tile{1} = transform.structured.tile_using_for %op tile_sizes [{2}]
        : (!transform.any_op) -> (!transform.any_op{3})
    transform.include @peel failures(propagate) (%l{4}) : (!transform.any_op) -> ()
    transform.yield
  }}
)",
                       rank, loops, sizes, types, rank - 1);
  }
  return out;
}

std::string elementwise_tiling() {
  std::string out;
  for (int rank = 1; rank <= kMaxElementwiseRank; ++rank)
    out += fmt::format(R"(    %ew{0} = transform.structured.match attributes {{zephyr.elementwise_{0}}} in %root : (!transform.any_op) -> !transform.any_op
    transform.foreach %ew{0} : !transform.any_op {{
    ^bb0(%op: !transform.any_op):
      transform.include @tile_elementwise_{0} failures(propagate) (%op) : (!transform.any_op) -> ()
    }}
)",
                       rank);
  return out;
}

void replace_once(std::string& text, const std::string& placeholder, const std::string& with) {
  text.replace(text.find(placeholder), placeholder.size(), with);
}

void apply_script(mlir::ModuleOp module, const char* entry, int threads = 1) {
  mlir::MLIRContext* ctx = module.getContext();
  std::string text = kTransformScript;
  replace_once(text, "THREADS", std::to_string(std::max(threads, 1)));
  replace_once(text, "ELEMENTWISE_SEQUENCES\n", elementwise_sequences());
  replace_once(text, "ELEMENTWISE_TILING\n", elementwise_tiling());
  mlir::OwningOpRef<mlir::ModuleOp> script = mlir::parseSourceString<mlir::ModuleOp>(text, ctx);
  if (!script) throw Error("[compile] internal error: the transform script does not parse");
  mlir::Operation* sequence = script->lookupSymbol(entry);
  if (mlir::failed(mlir::transform::applyTransformNamedSequence(module, sequence, *script,
                                                                mlir::transform::TransformOptions())))
    throw Error(fmt::format("[compile] internal error: transform sequence @{} failed", entry));
}

// f32 tanh, exp, log... as inline polynomials: vectorizable, and no libm calls in AOT objects.
// What has no approximation (f64 tanh, say) calls libm.
void approximate_math(mlir::ModuleOp module) {
  mlir::RewritePatternSet patterns(module.getContext());
  mlir::populateMathPolynomialApproximationPatterns(patterns);
  if (mlir::failed(mlir::applyPatternsAndFoldGreedily(module, std::move(patterns))))
    throw Error("[compile] internal error: math approximation did not converge");
}

void math_to_libm(mlir::ModuleOp module) {
  mlir::RewritePatternSet patterns(module.getContext());
  mlir::populateMathToLibmConversionPatterns(patterns);
  mlir::ConversionTarget target(*module.getContext());
  target.addLegalDialect<mlir::func::FuncDialect, mlir::arith::ArithDialect, mlir::vector::VectorDialect,
                         mlir::scf::SCFDialect, mlir::LLVM::LLVMDialect>();
  // Only what LLVM cannot lower by itself goes to libm.
  target.addIllegalOp<mlir::math::TanhOp, mlir::math::ErfOp, mlir::math::Atan2Op>();
  // sin/cos lower to LLVM intrinsics (libm calls) on their own.
  target.markUnknownOpDynamicallyLegal([](mlir::Operation*) { return true; });
  if (mlir::failed(mlir::applyPartialConversion(module, target, std::move(patterns))))
    throw Error("[compile] internal error: math-to-libm conversion failed");
}

// linalg's elementwise fusion (what -linalg-fuse-elementwise-ops does), except that reshapes
// are only propagated through linalg.generic: a linalg.matmul whose result is reshaped (a
// convolution's im2col product) must stay a matmul, or the transform script cannot tile it.
void fuse_elementwise(mlir::ModuleOp module) {
  mlir::MLIRContext* ctx = module.getContext();
  mlir::RewritePatternSet patterns(ctx);
  // A comparison with several users is fused into each of them (recomputed): materialized, it
  // would be an i1 buffer, which LLVM vectorizes slowly and compiles slower still. Other
  // multi-use producers stay: recomputing chains (threefry's rounds) can grow exponentially.
  auto single_use = [](mlir::OpOperand* operand) {
    mlir::Operation* producer = operand->get().getDefiningOp();
    if (!producer) return false;
    // A scalar (Adam's bias correction 1 - b1^t) stays computed once: fused, it would run in
    // every iteration of its consumer, whose stores keep LLVM from hoisting it (a powf per weight).
    if (auto shaped = mlir::dyn_cast<mlir::RankedTensorType>(operand->get().getType());
        shaped && shaped.getRank() == 0 && mlir::isa<mlir::linalg::GenericOp>(producer))
      return false;
    if (producer->hasOneUse()) return true;
    auto generic = mlir::dyn_cast<mlir::linalg::GenericOp>(producer);
    return generic && generic.getNumReductionLoops() == 0 && generic->getNumResults() == 1 &&
           mlir::getElementTypeOrSelf(generic->getResult(0).getType()).isInteger(1);
  };
  auto generic_only = [single_use](mlir::OpOperand* operand) {
    mlir::Operation* owner = operand->getOwner();
    mlir::Operation* producer = operand->get().getDefiningOp();
    mlir::Operation* linalg = mlir::isa<mlir::linalg::LinalgOp>(owner) ? owner : producer;
    return linalg && mlir::isa<mlir::linalg::GenericOp>(linalg) && single_use(operand);
  };
  mlir::linalg::populateElementwiseOpsFusionPatterns(patterns, single_use);
  mlir::linalg::populateFoldReshapeOpsByExpansionPatterns(patterns, generic_only);
  mlir::linalg::populateEraseUnusedOperandsAndResultsPatterns(patterns);
  mlir::tensor::populateFoldTensorEmptyPatterns(patterns);
  mlir::affine::AffineApplyOp::getCanonicalizationPatterns(patterns, ctx);
  mlir::linalg::GenericOp::getCanonicalizationPatterns(patterns, ctx);
  mlir::tensor::ExpandShapeOp::getCanonicalizationPatterns(patterns, ctx);
  mlir::tensor::CollapseShapeOp::getCanonicalizationPatterns(patterns, ctx);
  if (mlir::failed(mlir::applyPatternsAndFoldGreedily(module, std::move(patterns))))
    throw Error("[compile] internal error: elementwise fusion did not converge");
}

// Marks what the transform script splits into one row block per thread (zephyr.parallel).
void mark_for_threads(mlir::ModuleOp module, int threads) {
  auto unit = mlir::UnitAttr::get(module.getContext());
  // Only matmuls with rows and work to share are split: a fork/join costs microseconds, more
  // than a batch-1 product or (128x512)·(512x10) takes (measured: 0.6x OpenBLAS when split).
  module.walk([&](mlir::linalg::MatmulOp mm) {
    auto a = mlir::cast<mlir::RankedTensorType>(mm.getInputs()[0].getType());
    auto c = mlir::cast<mlir::RankedTensorType>(mm.getResult(0).getType());
    int64_t rows = c.getDimSize(0), multiply_adds = rows * c.getDimSize(1) * a.getDimSize(1);
    if (rows >= 64 && multiply_adds >= (int64_t{1} << 21)) mm->setAttr("zephyr.parallel", unit);
  });
  // Matrix transposes (the backward pass's A^T and B^T) and elementwise nests (the optimizer
  // update, bias + activation) are memory-bound: split once a block's share outweighs the
  // fork/join, about 2^16 elements.
  module.walk([&](mlir::linalg::TransposeOp t) {
    auto out = mlir::cast<mlir::RankedTensorType>(t.getInit().getType());
    if (out.getRank() == 2 && out.hasStaticShape() && out.getNumElements() >= (int64_t{1} << 16))
      t->setAttr("zephyr.parallel", unit);
  });
  module.walk([&](mlir::linalg::GenericOp generic) {
    if (generic.getNumReductionLoops() != 0 || generic->getNumResults() == 0) return;
    auto out = mlir::cast<mlir::RankedTensorType>(generic->getResult(0).getType());
    if (out.getRank() >= 1 && out.hasStaticShape() && out.getDimSize(0) >= threads &&
        out.getNumElements() >= (int64_t{1} << 16))
      generic->setAttr("zephyr.parallel", unit);
  });
}

// An elementwise nest the script can vectorize: no reductions, static rank 1-4, index maps that
// are projected permutations (reversals and strided reads stay loops), and floats throughout: a
// vector of i1 is bit-packed in memory where a memref of i1 holds bytes, and the integer nests
// (threefry's bit mixing) measured wrong when vectorized.
bool vectorizable_elementwise(mlir::linalg::GenericOp generic) {
  if (generic.getNumReductionLoops() != 0 || generic->getNumResults() == 0) return false;
  auto out = mlir::dyn_cast<mlir::RankedTensorType>(generic->getResult(0).getType());
  if (!out || !out.hasStaticShape() || out.getRank() < 1 || out.getRank() > kMaxElementwiseRank) return false;
  for (mlir::AffineMap map : generic.getIndexingMapsArray())
    if (!map.isProjectedPermutation()) return false;
  for (mlir::Value operand : generic->getOperands())
    if (!mlir::isa<mlir::FloatType>(mlir::getElementTypeOrSelf(operand.getType()))) return false;
  bool float_body = true;
  generic.getBody()->walk([&](mlir::Operation* op) {
    for (mlir::Type t : op->getResultTypes()) float_body &= mlir::isa<mlir::FloatType>(t);
  });
  return float_body;
}

// Marks the matrix transposes and elementwise nests the script tiles and vectorizes.
void mark_for_vectorization(mlir::ModuleOp module) {
  auto unit = mlir::UnitAttr::get(module.getContext());
  module.walk([&](mlir::linalg::TransposeOp t) {
    if (t.getPermutation() == llvm::ArrayRef<int64_t>{1, 0}) t->setAttr("zephyr.tile_transpose", unit);
  });
  module.walk([&](mlir::linalg::GenericOp generic) {
    if (!vectorizable_elementwise(generic)) return;
    auto rank = mlir::cast<mlir::RankedTensorType>(generic->getResult(0).getType()).getRank();
    generic->setAttr("zephyr.elementwise", unit);
    generic->setAttr(fmt::format("zephyr.elementwise_{}", rank), unit);
  });
}

void to_linalg(mlir::ModuleOp module, const Options& options) {
  mlir::PassManager pm(module.getContext());
  configure(pm, module, options);
  pm.addPass(mlir::createCanonicalizerPass());
  run(pm, module, "canonicalize");
  fuse_elementwise(module);  // bias + activation: one loop nest
  mlir::PassManager cleanup(module.getContext());
  configure(cleanup, module, options);
  cleanup.addPass(mlir::createCanonicalizerPass());
  cleanup.addPass(mlir::createCSEPass());
  run(cleanup, module, "fusion");
  approximate_math(module);
  if (!options.vectorize) return;
  if (options.threads > 1) mark_for_threads(module, options.threads);
  mark_for_vectorization(module);
  apply_script(module, "tile_and_vectorize", options.threads);
  mlir::PassManager hoist(module.getContext());
  configure(hoist, module, options);
  hoist.addPass(mlir::createLoopInvariantSubsetHoistingPass());  // accumulators stay in registers
  run(hoist, module, "hoisting");
  apply_script(module, "lower_vectors");
}

mlir::LogicalResult copy_as_loops(mlir::OpBuilder& b, mlir::Location loc, mlir::Value from, mlir::Value to) {
  b.create<mlir::linalg::CopyOp>(loc, from, to);
  return mlir::success();
}

void bufferize(mlir::ModuleOp module, const Options& options) {
  mlir::PassManager pm(module.getContext());
  configure(pm, module, options);
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
  run(pm, module, "bufferization");
}

// Every returned buffer must be fresh before results become out-parameters: a returned
// argument, or a buffer returned twice (`return {y, y}`, two results merged by CSE, two equal
// gradients) crashes buffer-results-to-out-params. Such results are copied here, on buffers,
// where no tensor canonicalization can fold the copy away.
void separate_returned_buffers(mlir::ModuleOp module) {
  module.walk([](mlir::func::ReturnOp ret) {
    mlir::OpBuilder b(ret);
    llvm::SmallVector<mlir::Value> seen;
    for (mlir::OpOperand& operand : ret->getOpOperands()) {
      mlir::Value v = operand.get();
      auto type = mlir::dyn_cast<mlir::MemRefType>(v.getType());
      bool shared = mlir::isa<mlir::BlockArgument>(v) || llvm::is_contained(seen, v);
      seen.push_back(v);
      if (!type || !shared) continue;
      mlir::Value fresh = b.create<mlir::memref::AllocOp>(ret.getLoc(), type);
      b.create<mlir::linalg::CopyOp>(ret.getLoc(), v, fresh);
      operand.set(fresh);
    }
  });
}

void to_buffers(mlir::ModuleOp module, const Options& options) {
  bufferize(module, options);
  separate_returned_buffers(module);
  mlir::PassManager pm(module.getContext());
  configure(pm, module, options);
  mlir::bufferization::BufferResultsToOutParamsOpts out_params;
  out_params.hoistStaticAllocs = true;
  out_params.memCpyFn = copy_as_loops;
  pm.addPass(mlir::bufferization::createBufferResultsToOutParamsPass(out_params));
  pm.addPass(mlir::createCanonicalizerPass());
  // Intermediates are freed at the end of each call, so repeated calls do not grow memory.
  mlir::bufferization::BufferDeallocationPipelineOptions dealloc;
  mlir::bufferization::buildBufferDeallocationPipeline(pm, dealloc);
  pm.addPass(mlir::createCanonicalizerPass());
  run(pm, module, "out-parameter and deallocation");
}

void to_llvm_dialect(mlir::ModuleOp module, const Options& options) {
  math_to_libm(module);
  mlir::PassManager pm(module.getContext());
  configure(pm, module, options);
  if (options.threads > 1) {
    // Row blocks run on OpenMP threads; the canonicalization merges the blocks that
    // memref.alloca_scope would otherwise leave (and fail verification).
    pm.addPass(mlir::createForallToParallelLoopPass());
    pm.addPass(mlir::createConvertSCFToOpenMPPass());
    pm.addPass(mlir::createCanonicalizerPass());
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
  run(pm, module, "LLVM conversion");
}

}  // namespace

std::unique_ptr<mlir::MLIRContext> make_context() {
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

void lower_module(mlir::ModuleOp module, Stage stage, const Options& options) {
  if (stage <= Stage::mlir) return;
  to_linalg(module, options);
  if (stage == Stage::linalg) return;
  to_buffers(module, options);
  if (stage == Stage::bufferized) return;
  to_llvm_dialect(module, options);
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
