// zephyr's own rewrites as named, registered MLIR passes: the lowering pipeline (pipeline.cpp)
// runs them, and so can `zephyr-opt` on any .mlir file (test/lit/passes/).
#include "passes.h"

#include "mlir_internal.h"

#include <fmt/format.h>

#include "mlir/Conversion/MathToLibm/MathToLibm.h"
#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Affine/ViewLikeInterfaceUtils.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Approximation.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/Interfaces/TilingInterface.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Dialect/Transform/IR/TransformOps.h"
#include "mlir/Dialect/Transform/Transforms/TransformInterpreterUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Transforms/DialectConversion.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "forall_slices.h"
#include "split_accumulators.h"
#include "split_reductions.h"
#include "transforms_mlir.h"  // kTransformsMlir: lib/compiler/transforms.mlir, embedded at build time

namespace zephyr::compiler {
namespace {

constexpr int kMaxElementwiseRank = 6;  // transforms.mlir has @tile_elementwise_1 to _6
constexpr int kMaxTransposeBlockRank = 4;  // and @tile_transpose_2 to _4

// insert_slice(transfer_write(v, t)) where the write covers only part of t (the remainder of a
// peeled loop, whose main part wrote the rest of t): t goes into the slice first, then v is
// written there. MLIR 19's folder (populateFoldTensorSubsetIntoVectorTransferPatterns) rewrites
// it to v written into the destination alone, dropping the rest of t: a 40-wide elementwise
// result inserted into a larger tensor kept only its last 8 lanes. With a higher benefit, this
// pattern takes those cases before the folder sees them; full writes are left to the folder.
struct PartialWriteIntoSlice : mlir::OpRewritePattern<mlir::tensor::InsertSliceOp> {
  PartialWriteIntoSlice(mlir::MLIRContext* ctx) : OpRewritePattern(ctx, /*benefit=*/2) {}
  mlir::LogicalResult matchAndRewrite(mlir::tensor::InsertSliceOp insert, mlir::PatternRewriter& rewriter) const final {
    auto write = insert.getSource().getDefiningOp<mlir::vector::TransferWriteOp>();
    if (!write || write.getMask() || !write.getPermutationMap().isMinorIdentity() || !insert.hasUnitStride())
      return mlir::failure();
    auto tensor = mlir::cast<mlir::RankedTensorType>(write.getSource().getType());
    const bool covers = write.getVectorType().getShape() == tensor.getShape() &&
                        llvm::all_of(write.getIndices(), [](mlir::Value i) { return mlir::isConstantIntValue(i, 0); });
    if (covers) return mlir::failure();
    mlir::Value base = rewriter.create<mlir::tensor::InsertSliceOp>(
        insert.getLoc(), write.getSource(), insert.getDest(), insert.getMixedOffsets(), insert.getMixedSizes(),
        insert.getMixedStrides());
    llvm::SmallVector<mlir::Value> indices;
    mlir::affine::resolveIndicesIntoOpWithOffsetsAndStrides(rewriter, write.getLoc(), insert.getMixedOffsets(),
                                                            insert.getMixedStrides(), insert.getDroppedDims(),
                                                            write.getIndices(), indices);
    const mlir::AffineMap map = mlir::expandDimsToRank(write.getPermutationMap(), insert.getDestType().getRank(),
                                                       insert.getDroppedDims());
    rewriter.replaceOpWithNewOp<mlir::vector::TransferWriteOp>(insert, write.getVector(), base, indices,
                                                               mlir::AffineMapAttr::get(map), write.getInBoundsAttr());
    return mlir::success();
  }
};

// Slices folded into the vector transfers that read and write them, and the result
// canonicalized: the last step of tile_and_vectorize, here rather than in the script so that
// PartialWriteIntoSlice comes first.
mlir::LogicalResult fold_slices_into_transfers(mlir::ModuleOp module) {
  mlir::MLIRContext* ctx = module.getContext();
  mlir::RewritePatternSet patterns(ctx);
  patterns.add<PartialWriteIntoSlice>(ctx);
  mlir::tensor::populateFoldTensorSubsetIntoVectorTransferPatterns(patterns);
  for (mlir::Dialect* dialect : ctx->getLoadedDialects()) dialect->getCanonicalizationPatterns(patterns);
  for (mlir::RegisteredOperationName op : ctx->getRegisteredOperations()) op.getCanonicalizationPatterns(patterns, ctx);
  return mlir::applyPatternsAndFoldGreedily(module, std::move(patterns));
}

// A kernel's extra output (a sibling, partition.h): a generic whose result is returned and read by
// one consumer generic. linalg's own pattern would fuse a copy of it into the consumer and keep it
// for the return (it replaces only the consumer's results), so the loop would run twice; this
// fuses it once, and the return reads the fused op's extra result: one pass for both values.
struct FuseReturnedProducer : mlir::OpRewritePattern<mlir::linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;
  mlir::LogicalResult matchAndRewrite(mlir::linalg::GenericOp consumer, mlir::PatternRewriter& rewriter) const override {
    for (mlir::OpOperand& operand : consumer->getOpOperands()) {
      auto producer = operand.get().getDefiningOp<mlir::linalg::GenericOp>();
      if (!producer || producer->hasOneUse() || !mlir::linalg::areElementwiseOpsFusable(&operand)) continue;
      const bool returned_besides = llvm::all_of(producer->getUses(), [&](mlir::OpOperand& use) {
        return &use == &operand || mlir::isa<mlir::func::ReturnOp>(use.getOwner());
      });
      if (!returned_besides) continue;
      mlir::FailureOr<mlir::linalg::ElementwiseOpFusionResult> fused = mlir::linalg::fuseElementwiseOps(rewriter, &operand);
      if (mlir::failed(fused)) continue;
      for (auto [from, to] : fused->replacements) rewriter.replaceAllUsesWith(from, to);
      rewriter.eraseOp(consumer);
      rewriter.eraseOp(producer);
      return mlir::success();
    }
    return mlir::failure();
  }
};

// The products the transform script tiles and vectorizes: C = A·B (linalg.matmul) and C = Aᵀ·B
// (linalg.matmul_transpose_a, from fold_transposed_lhs). Both take B as (k, n).
bool is_product(mlir::Operation* op) { return mlir::isa<mlir::linalg::MatmulOp, mlir::linalg::MatmulTransposeAOp>(op); }

// An elementwise nest over a product reshaped to more axes (a convolution's ReLU reads its im2col
// product as [n, h, w, c]) runs over the product's own two axes instead, so it reads C directly and
// the script applies it to each tile of C as an epilogue (epilogue_of). Left 4-D, it was a second
// pass over all of C after the product, and C a full-size temporary besides the kernel's output.
// A separate greedy run: fuse_elementwise's expansion patterns would undo it.
mlir::LogicalResult collapse_onto_products(mlir::ModuleOp module) {
  mlir::MLIRContext* ctx = module.getContext();
  mlir::RewritePatternSet patterns(ctx);
  mlir::linalg::populateFoldReshapeOpsByCollapsingPatterns(patterns, [](mlir::OpOperand* operand) {
    auto expand = operand->get().getDefiningOp<mlir::tensor::ExpandShapeOp>();
    mlir::Operation* source = expand ? expand.getSrc().getDefiningOp() : nullptr;
    return source && is_product(source) && source->hasOneUse();
  });
  mlir::tensor::ExpandShapeOp::getCanonicalizationPatterns(patterns, ctx);
  mlir::tensor::CollapseShapeOp::getCanonicalizationPatterns(patterns, ctx);
  mlir::tensor::populateFoldTensorEmptyPatterns(patterns);
  return mlir::applyPatternsAndFoldGreedily(module, std::move(patterns));
}

// linalg's elementwise fusion (what -linalg-fuse-elementwise-ops does), except that reshapes
// are only propagated through linalg.generic: a linalg.matmul whose result is reshaped (a
// convolution's im2col product) must stay a matmul, or the transform script cannot tile it.
mlir::LogicalResult fuse_elementwise(mlir::ModuleOp module) {
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
  patterns.add<FuseReturnedProducer>(ctx);
  mlir::linalg::populateFoldReshapeOpsByExpansionPatterns(patterns, generic_only);
  mlir::linalg::populateEraseUnusedOperandsAndResultsPatterns(patterns);
  mlir::tensor::populateFoldTensorEmptyPatterns(patterns);
  mlir::affine::AffineApplyOp::getCanonicalizationPatterns(patterns, ctx);
  mlir::linalg::GenericOp::getCanonicalizationPatterns(patterns, ctx);
  mlir::tensor::ExpandShapeOp::getCanonicalizationPatterns(patterns, ctx);
  mlir::tensor::CollapseShapeOp::getCanonicalizationPatterns(patterns, ctx);
  if (mlir::failed(mlir::applyPatternsAndFoldGreedily(module, std::move(patterns)))) return mlir::failure();
  return collapse_onto_products(module);
}

// How the script moves a transpose. `blocks`: a matrix, or a batch of them (the last two axes
// swapped, the others in place, as attention's Kᵀ and its gradients), in 16x16 blocks through
// registers. `rows`: the last axis stays in place (attention's heads split from and merged into
// the model axis), so the transpose is an elementwise copy of rows, vectorized like one. Others
// stay loops. Before 2026-12-07 only matrices were moved by blocks: the 2-block LM's batched
// transposes ran as scalar loops, 15 % of its step.
enum class TransposeKind { loops, blocks, rows };
TransposeKind transpose_kind(mlir::linalg::TransposeOp t) {
  const llvm::ArrayRef<int64_t> perm = t.getPermutation();
  const int64_t rank = static_cast<int64_t>(perm.size());
  if (rank == 2) return perm[0] == 1 ? TransposeKind::blocks : TransposeKind::loops;
  auto out = mlir::cast<mlir::RankedTensorType>(t.getInit().getType());
  // Float only, as the elementwise nests: a memref of i1 holds bytes, a vector of i1 bits.
  if (rank > kMaxTransposeBlockRank || !out.hasStaticShape() || !mlir::isa<mlir::FloatType>(out.getElementType()))
    return TransposeKind::loops;
  if (perm.back() == rank - 1) return TransposeKind::rows;
  for (int64_t i = 0; i < rank - 2; ++i)
    if (perm[i] != i) return TransposeKind::loops;
  return perm[rank - 2] == rank - 1 ? TransposeKind::blocks : TransposeKind::loops;
}

// Whether a kernel that walks down a column of `a` (one row after another, 256 rows per cache
// tile) keeps those rows in L1. L1's 64 sets repeat every 4 KB, so rows whose byte stride has a
// power-of-two factor above 128 land in fewer than 32 sets, fewer lines than the tile needs: a
// stride of 4 KB (1024 f32) puts every row in one set.
bool rows_spread_over_l1(mlir::RankedTensorType a) {
  if (!a.hasStaticShape()) return false;
  const int64_t stride = a.getDimSize(1) * a.getElementTypeBitWidth() / 8;
  return stride > 0 && (stride & -stride) <= 128;
}

// matmul(transpose(A), B) as linalg.matmul_transpose_a(A, B). The register tile's outer product
// takes its 8 values of Aᵀ's column from one row of A, so the transpose, a copy of all of A
// (14 MB of a CNN's patches in its weight gradient), is not needed. But the tile then reads A
// down a column, a row per k step, so it is folded only where those rows do not collide in L1:
// 1024³ measured 0.71× OpenBLAS folded against 0.83× transposed first. One-row products stay
// plain matmuls: they are matrix-vector kernels (zephyr.matvec).
void fold_transposed_lhs(mlir::ModuleOp module) {
  llvm::SmallVector<std::pair<mlir::linalg::MatmulOp, mlir::linalg::TransposeOp>> folds;
  module.walk([&](mlir::linalg::MatmulOp mm) {
    auto t = mm.getInputs()[0].getDefiningOp<mlir::linalg::TransposeOp>();
    if (!t || t.getPermutation() != llvm::ArrayRef<int64_t>{1, 0}) return;
    auto c = mlir::cast<mlir::RankedTensorType>(mm.getResult(0).getType());
    auto a = mlir::cast<mlir::RankedTensorType>(t.getInput().getType());
    if (c.getDimSize(0) != 1 && rows_spread_over_l1(a)) folds.push_back({mm, t});
  });
  mlir::IRRewriter rewriter(module.getContext());
  llvm::SmallPtrSet<mlir::Operation*, 8> transposes;  // once each: two products may share one
  for (auto [mm, t] : folds) {
    rewriter.setInsertionPoint(mm);
    rewriter.replaceOpWithNewOp<mlir::linalg::MatmulTransposeAOp>(
        mm, mm->getResultTypes(), mlir::ValueRange{t.getInput(), mm.getInputs()[1]}, mm.getOutputs());
    transposes.insert(t);
  }
  for (mlir::Operation* t : transposes)
    if (t->use_empty()) rewriter.eraseOp(t);
}

constexpr int64_t kPanel = 32;  // columns of B per packed panel: the register tile's width
constexpr int64_t kPackRows = 256;
constexpr int64_t kTransposedPanelRows = 64;  // A·Bᵀ: no copy to pay for, but one-row products are matvecs
constexpr int64_t kL2Bytes = int64_t{1} << 20;  // one core's L2

// A block of C's columns, as tensor slice operands.
struct Columns {
  llvm::SmallVector<mlir::OpFoldResult> offsets, sizes, strides;
};

// panel[p, i, j] = B[i, p·32 + j]: B (k, n) as n/32 contiguous panels of (k, 32), by an
// elementwise copy of rank 3, which the script vectorizes.
mlir::Value copy_into_panels(mlir::IRRewriter& rewriter, mlir::Location loc, mlir::Value b) {
  auto type = mlir::cast<mlir::RankedTensorType>(b.getType());
  const int64_t k = type.getDimSize(0), panels = type.getDimSize(1) / kPanel;
  mlir::Value split = rewriter.create<mlir::tensor::ExpandShapeOp>(
      loc, mlir::RankedTensorType::get({k, panels, kPanel}, type.getElementType()), b,
      llvm::ArrayRef<mlir::ReassociationIndices>{{0}, {1, 2}});
  mlir::Value empty =
      rewriter.create<mlir::tensor::EmptyOp>(loc, llvm::ArrayRef<int64_t>{panels, k, kPanel}, type.getElementType());
  mlir::MLIRContext* ctx = rewriter.getContext();
  auto d = [&](unsigned i) { return mlir::getAffineDimExpr(i, ctx); };
  llvm::SmallVector<mlir::AffineMap> maps{mlir::AffineMap::get(3, 0, {d(1), d(0), d(2)}, ctx),
                                          mlir::AffineMap::getMultiDimIdentityMap(3, ctx)};
  llvm::SmallVector<mlir::utils::IteratorType> parallel(3, mlir::utils::IteratorType::parallel);
  return rewriter
      .create<mlir::linalg::GenericOp>(
          loc, empty.getType(), mlir::ValueRange{split}, mlir::ValueRange{empty}, maps, parallel,
          [](mlir::OpBuilder& nb, mlir::Location l, mlir::ValueRange args) { nb.create<mlir::linalg::YieldOp>(l, args[0]); })
      .getResult(0);
}

// panel[p, i, j] = Bᵀ[i, p·32 + j] = src[p·32 + j, i], for B = transpose(src), src (n, k): src as
// n/32 blocks of (32, k), each transposed (a batched transpose, moved by 16x16 blocks like a
// matrix's). The copy that wrote Bᵀ writes the panels instead.
mlir::Value transpose_into_panels(mlir::IRRewriter& rewriter, mlir::Location loc, mlir::Value src) {
  auto type = mlir::cast<mlir::RankedTensorType>(src.getType());
  const int64_t n = type.getDimSize(0), k = type.getDimSize(1), panels = n / kPanel;
  mlir::Value blocks = rewriter.create<mlir::tensor::ExpandShapeOp>(
      loc, mlir::RankedTensorType::get({panels, kPanel, k}, type.getElementType()), src,
      llvm::ArrayRef<mlir::ReassociationIndices>{{0, 1}, {2}});
  mlir::Value empty =
      rewriter.create<mlir::tensor::EmptyOp>(loc, llvm::ArrayRef<int64_t>{panels, k, kPanel}, type.getElementType());
  return rewriter.create<mlir::linalg::TransposeOp>(loc, blocks, empty, llvm::ArrayRef<int64_t>{0, 2, 1})->getResult(0);
}

// The source (n, k) of a product's B when B is transpose(source) read by this product alone, n
// a whole number of panels, and B's rows collide in L1: A·Bᵀ (an input gradient, dY·Wᵀ)
// transposed W first anyway. Where Bᵀ's rows spread over L1 (the CNN's 64 x 288 patch weights),
// panels only cost: each panel's product reads all of A again and writes C 32 columns at a
// time (conv_2's input gradient, 12544 rows: 3.5 -> 4.5 ms on one thread).
mlir::Value transposed_rhs_source(mlir::linalg::MatmulOp mm) {
  auto t = mm.getInputs()[1].getDefiningOp<mlir::linalg::TransposeOp>();
  if (!t || t.getPermutation() != llvm::ArrayRef<int64_t>{1, 0} || !t->getResult(0).hasOneUse()) return {};
  auto src = mlir::cast<mlir::RankedTensorType>(t.getInput().getType());
  auto b = mlir::cast<mlir::RankedTensorType>(t->getResult(0).getType());
  auto c = mlir::cast<mlir::RankedTensorType>(mm.getResult(0).getType());
  const bool fits = src.hasStaticShape() && c.hasStaticShape() && src.getElementType().isF32() &&
                    src.getDimSize(0) % kPanel == 0 && c.getDimSize(0) >= kTransposedPanelRows &&
                    !rows_spread_over_l1(b);
  return fits ? t.getInput() : mlir::Value{};
}

// C = A·B with B in n/32 panels of (k, 32), each contiguous, and one product per panel into its
// columns of C. The register tile reads 128 bytes of B a k step: from B itself a row apart, which
// at n = 1024 is 4 KB and a new page, so where B's rows collide in L1 (rows_spread_over_l1) and B
// is larger than L2, each step missed L1 and the TLB. Measured (docs/performance.md, 2026-12-06):
// 1024³ went from 0.87-1.01x OpenBLAS to 0.97-1.13x on one and two threads. The copy (k·n
// elements) must be paid for by many rows: at 128 rows (the MLP's 784x512 weights) or with B in
// L2 (the LM's 128x128) the steps measured slower packed. Where B is a transpose for this product
// alone (A·Bᵀ), the transpose writes the panels and nothing is added (transpose_into_panels).
void pack_aliased_rhs(mlir::ModuleOp module, int threads) {
  llvm::SmallVector<std::pair<mlir::linalg::MatmulOp, mlir::Value>> products;  // with B's transposed source
  module.walk([&](mlir::linalg::MatmulOp mm) {
    auto a = mlir::cast<mlir::RankedTensorType>(mm.getInputs()[0].getType());
    auto b = mlir::cast<mlir::RankedTensorType>(mm.getInputs()[1].getType());
    if (mlir::Value src = transposed_rhs_source(mm)) return products.push_back({mm, src});
    const bool large = a.hasStaticShape() && b.hasStaticShape() && a.getDimSize(0) >= kPackRows &&
                       b.getNumElements() * b.getElementTypeBitWidth() / 8 > kL2Bytes;
    if (large && b.getElementType().isF32() && b.getDimSize(1) % kPanel == 0 && !rows_spread_over_l1(b))
      products.push_back({mm, mlir::Value{}});
  });
  mlir::IRRewriter rewriter(module.getContext());
  for (auto [mm, transposed] : products) {
    mlir::Location loc = mm.getLoc();
    rewriter.setInsertionPoint(mm);
    mlir::Value a = mm.getInputs()[0], b = mm.getInputs()[1], c = mm.getOutputs()[0];
    auto b_type = mlir::cast<mlir::RankedTensorType>(b.getType());
    const int64_t m = mlir::cast<mlir::RankedTensorType>(a.getType()).getDimSize(0);
    const int64_t k = b_type.getDimSize(0), panels = b_type.getDimSize(1) / kPanel;
    mlir::Type element = b_type.getElementType();
    mlir::Operation* transpose = transposed ? b.getDefiningOp() : nullptr;
    mlir::Value packed = transposed ? transpose_into_panels(rewriter, loc, transposed) : copy_into_panels(rewriter, loc, b);
    // One panel's product into its 32 columns of C.
    auto panel_product = [&](mlir::OpBuilder& nb, mlir::Location l, mlir::Value p, mlir::Value acc) {
      auto attr = [&](int64_t i) -> mlir::OpFoldResult { return nb.getIndexAttr(i); };
      mlir::Value column = nb.create<mlir::arith::MulIOp>(l, p, nb.create<mlir::arith::ConstantIndexOp>(l, kPanel));
      mlir::Value panel = nb.create<mlir::tensor::ExtractSliceOp>(
          l, mlir::RankedTensorType::get({k, kPanel}, element), packed,
          llvm::SmallVector<mlir::OpFoldResult>{p, attr(0), attr(0)},
          llvm::SmallVector<mlir::OpFoldResult>{attr(1), attr(k), attr(kPanel)},
          llvm::SmallVector<mlir::OpFoldResult>(3, attr(1)));
      Columns block{{attr(0), column}, {attr(m), attr(kPanel)}, {attr(1), attr(1)}};
      mlir::Value into = nb.create<mlir::tensor::ExtractSliceOp>(l, acc, block.offsets, block.sizes, block.strides);
      mlir::Value product =
          nb.create<mlir::linalg::MatmulOp>(l, mlir::TypeRange{into.getType()}, mlir::ValueRange{a, panel}, mlir::ValueRange{into})
              .getResult(0);
      return std::pair{product, block};
    };
    mlir::Value zero = rewriter.create<mlir::arith::ConstantIndexOp>(loc, 0);
    mlir::Value count = rewriter.create<mlir::arith::ConstantIndexOp>(loc, panels);
    mlir::Value one = rewriter.create<mlir::arith::ConstantIndexOp>(loc, 1);
    if (threads <= 1) {
      auto loop = rewriter.create<mlir::scf::ForOp>(
          loc, zero, count, one, mlir::ValueRange{c}, [&](mlir::OpBuilder& nb, mlir::Location l, mlir::Value p, mlir::ValueRange acc) {
            auto [product, block] = panel_product(nb, l, p, acc[0]);
            nb.create<mlir::scf::YieldOp>(
                l, nb.create<mlir::tensor::InsertSliceOp>(l, product, acc[0], block.offsets, block.sizes, block.strides)
                       .getResult());
          });
      rewriter.replaceOp(mm, loop.getResults());
      if (transpose) rewriter.eraseOp(transpose);
      continue;
    }
    // On several threads the panels are shared out, each product whole on one thread: a row
    // split inside every panel's product cost a fork and join per panel (0.55x on 128x784x512).
    mlir::Value shared = forall_filling_slices(rewriter, loc, panels, c, [&](mlir::OpBuilder& nb, mlir::Location l, mlir::Value p, mlir::Value acc) {
      auto [product, block] = panel_product(nb, l, p, acc);
      return SliceFill{product, block.offsets, block.sizes, block.strides};
    });
    rewriter.replaceOp(mm, shared);
    if (transpose) rewriter.eraseOp(transpose);
  }
}

// A generic with several results (a kernel's siblings, partition.h) whose inits are one value
// (CSE merged their tensor.empty ops): tile_using_forall would give every result the first
// result's shared output, so each block's three results landed in one buffer. Each repeated init
// becomes an empty tensor of its own.
void own_init_per_result(mlir::linalg::GenericOp generic) {
  llvm::SmallPtrSet<mlir::Value, 4> seen;
  for (mlir::OpOperand& init : generic.getDpsInitsMutable()) {
    if (seen.insert(init.get()).second) continue;
    auto empty = init.get().getDefiningOp<mlir::tensor::EmptyOp>();
    if (!empty) continue;  // a generic that reads its init keeps it (not made by fusion)
    mlir::OpBuilder b(generic);
    init.set(b.clone(*empty)->getResult(0));
  }
}

// An elementwise nest the script can vectorize: no reductions, static rank 1-6, index maps that
// are projected permutations (reversals and strided reads stay loops), and float operands: a
// vector of i1 is bit-packed in memory where a memref of i1 holds bytes, and the integer nests
// (threefry's bit mixing) measured wrong when vectorized. Inside the body, comparisons (i1 in
// registers, never stored) may feed selects: ReLU's and max-pooling's gradient masks.
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
    for (mlir::Type t : op->getResultTypes()) float_body &= mlir::isa<mlir::FloatType>(t) || t.isInteger(1);
  });
  return float_body;
}

// The elementwise nest that is a product's one user, in its block, and reads and writes it
// element for element (an optimizer's update, an activation's mask), or null: the product's
// epilogue, applied to each tile of C while the tile is in cache (epilogue_of).
mlir::linalg::GenericOp elementwise_user(mlir::linalg::LinalgOp mm) {
  if (!mm->getResult(0).hasOneUse()) return {};
  mlir::OpOperand& use = *mm->getResult(0).getUses().begin();
  auto user = mlir::dyn_cast<mlir::linalg::GenericOp>(use.getOwner());
  if (!user || user->getBlock() != mm->getBlock() || !vectorizable_elementwise(user) || !user.isDpsInput(&use) ||
      !user.getMatchingIndexingMap(&use).isIdentity())
    return {};
  for (mlir::OpOperand& out : user.getDpsInitsMutable())
    if (!user.getMatchingIndexingMap(&out).isIdentity() || out.get().getType() != use.get().getType()) return {};
  return user;
}

// Marks what the transform script splits into one row block per thread (zephyr.parallel).
void mark_for_threads(mlir::ModuleOp module, int threads) {
  auto unit = mlir::UnitAttr::get(module.getContext());
  // Only matmuls with rows and work to share are split: a fork/join costs microseconds, more
  // than a batch-1 product or (128x512)·(512x10) takes (measured: 0.6x OpenBLAS when split).
  module.walk([&](mlir::linalg::LinalgOp mm) {
    if (!is_product(mm) || mm->getParentOfType<mlir::scf::ForallOp>()) return;  // already shared out
    auto b = mlir::cast<mlir::RankedTensorType>(mm.getDpsInputs()[1].getType());
    auto c = mlir::cast<mlir::RankedTensorType>(mm->getResult(0).getType());
    int64_t rows = c.getDimSize(0), multiply_adds = rows * c.getDimSize(1) * b.getDimSize(0);
    if (rows >= 64 && multiply_adds >= (int64_t{1} << 21)) mm->setAttr("zephyr.parallel", unit);
  });
  // Matrix transposes (the backward pass's A^T and B^T) and elementwise nests (the optimizer
  // update, bias + activation) are memory-bound: split once a block's share outweighs the
  // fork/join, about 2^16 elements.
  module.walk([&](mlir::linalg::TransposeOp t) {
    auto out = mlir::cast<mlir::RankedTensorType>(t.getInit().getType());
    if (transpose_kind(t) != TransposeKind::loops && out.hasStaticShape() && out.getDimSize(0) >= threads &&
        out.getNumElements() >= (int64_t{1} << 16))
      t->setAttr("zephyr.parallel", unit);
  });
  // Reductions too, when their first loop is parallel (an image of a pooling, a row of a softmax
  // or a layer norm): each block reduces whole rows, in the order one thread would. Left on one
  // thread, they ran at half speed while the other thread's OpenMP worker waited (the CNN's
  // pooling, 0.30 ms on one thread and 0.58 on two).
  module.walk([&](mlir::linalg::GenericOp generic) {
    if (generic->getNumResults() == 0) return;
    const llvm::SmallVector<int64_t> loops = generic.getStaticLoopRanges();
    if (loops.empty() || mlir::ShapedType::isDynamicShape(loops) ||
        generic.getIteratorTypesArray()[0] != mlir::utils::IteratorType::parallel)
      return;
    int64_t work = 1;
    for (int64_t extent : loops) work *= extent;
    if (loops[0] >= threads && work >= (int64_t{1} << 16)) {
      generic->setAttr("zephyr.parallel", unit);
      own_init_per_result(generic);
    }
  });
}

// A marked matmul's row blocks: blocks that divide the rows exactly into multiples of 8 (the
// register tile). Each block is then tiled as the whole matrix is on one thread, so every element
// is computed by the same instructions whatever the thread count (the same bits), and every tile
// keeps a static shape. Of those, the fewest blocks that keep the threads busy at least 90 % of
// the time (blocks are shared out in rounds of one per thread), else the most even: 1000 rows on
// 2 threads are 25 blocks of 40 (13 and 12 per thread), where 5 blocks of 200 left a thread
// idle a sixth of the time (0.82x OpenBLAS). 0 when no such split exists.
int64_t row_block(int64_t rows, int threads) {
  int64_t best = 0;
  double best_busy = 0;
  for (int64_t blocks = std::max(threads, 2); blocks <= rows / 8; ++blocks) {
    if (rows % blocks != 0 || (rows / blocks) % 8 != 0) continue;
    const int64_t rounds = (blocks + threads - 1) / threads;
    const double busy = static_cast<double>(blocks) / static_cast<double>(rounds * threads);
    if (busy >= 0.9) return rows / blocks;
    if (busy > best_busy) {
      best_busy = busy;
      best = rows / blocks;
    }
  }
  return best;
}

// A product split into an scf.forall of row blocks of `rows`, each block computing its rows of the
// product and of the fill it accumulates into (each thread zeroes its own rows, and the script's
// cache tiles take the fill along, @tile_cache), and of its epilogue (elementwise_user) if it has
// one, so that the script applies it tile by tile there (epilogue_of). Other producers stay
// where they are: a transposed B fused in would be transposed whole by every block.
mlir::LogicalResult split_into_row_blocks(mlir::IRRewriter& rewriter, mlir::linalg::LinalgOp mm, int64_t rows) {
  mlir::Operation* fill = mm.getDpsInits()[0].getDefiningOp<mlir::linalg::FillOp>();
  mlir::linalg::GenericOp user = elementwise_user(mm);
  auto outermost = mlir::cast<mlir::TilingInterface>(user ? user.getOperation() : mm.getOperation());
  llvm::SmallVector<mlir::OpFoldResult> sizes(outermost.getLoopIteratorTypes().size(), rewriter.getIndexAttr(0));
  sizes[0] = rewriter.getIndexAttr(rows);
  mlir::scf::SCFTilingOptions tiling;
  tiling.setTileSizes(sizes);
  tiling.setLoopType(mlir::scf::SCFTilingOptions::LoopType::ForallOp);
  mlir::scf::SCFTileAndFuseOptions options;
  options.setTilingOptions(tiling);
  options.setFusionControlFn([&](mlir::tensor::ExtractSliceOp, mlir::OpResult producer, bool) {
    const bool ours = producer.getOwner() == mm.getOperation() || (fill && producer.getOwner() == fill);
    return std::make_tuple(ours, false);
  });
  rewriter.setInsertionPoint(outermost);
  auto split = mlir::scf::tileConsumerAndFuseProducersUsingSCF(rewriter, outermost, options);
  if (mlir::failed(split)) return mlir::failure();
  for (mlir::OpResult result : outermost->getResults())
    rewriter.replaceAllUsesWith(result, split->replacements.lookup(result));
  for (mlir::Operation* tiled : split->tiledAndFusedOps) tiled->removeAttr("zephyr.parallel");
  // What was split is left read only by slices the fusion no longer uses.
  for (mlir::Operation* op : {user.getOperation(), mm.getOperation(), fill}) {
    if (!op) continue;
    for (mlir::Operation* slice : llvm::make_early_inc_range(op->getUsers()))
      if (mlir::isa<mlir::tensor::ExtractSliceOp>(slice) && slice->use_empty()) rewriter.eraseOp(slice);
    if (op->use_empty()) rewriter.eraseOp(op);
  }
  return mlir::success();
}

// Splits each matmul marked zephyr.parallel into an scf.forall over row blocks (row_block), with
// its epilogue if it has one (split_into_row_blocks); one with no such split runs on one thread.
// Transposes and elementwise nests, which compute each element alike however they are split, are
// left to transforms.mlir's @split_rows.
mlir::LogicalResult split_matmul_rows(mlir::ModuleOp module, int threads) {
  llvm::SmallVector<mlir::linalg::LinalgOp> marked;
  module.walk([&](mlir::linalg::LinalgOp mm) {
    if (is_product(mm) && mm->hasAttr("zephyr.parallel")) marked.push_back(mm);
  });
  mlir::IRRewriter rewriter(module.getContext());
  for (mlir::linalg::LinalgOp mm : marked) {
    mm->removeAttr("zephyr.parallel");
    const int64_t rows = row_block(mlir::cast<mlir::RankedTensorType>(mm->getResult(0).getType()).getDimSize(0), threads);
    if (rows == 0) continue;
    if (mlir::failed(split_into_row_blocks(rewriter, mm, rows)))
      return mm->emitError("cannot split the matmul into row blocks");
  }
  return mlir::success();
}

// A product's epilogue (elementwise_user) as transforms.mlir's @tile_epilogue applies it: to each
// 32 x 512 tile of C right after the tile's products, while the tile is in L2, where otherwise
// all of C goes out to L3 and back (the MLP's first weight gradient is 1.6 MB). The user must not
// be split over threads on its own: its tiles must be C's. A product split into row blocks has
// its epilogue split with it (split_matmul_rows), each block's in the block.
mlir::linalg::GenericOp epilogue_of(mlir::linalg::LinalgOp mm) {
  mlir::linalg::GenericOp user = elementwise_user(mm);
  if (!user || !mm->hasAttr("zephyr.matmul") || !user->hasAttr("zephyr.elementwise_2") || user->hasAttr("zephyr.parallel"))
    return {};
  return user;
}

// Marks the transposes and elementwise nests the script tiles and vectorizes.
void mark_for_vectorization(mlir::ModuleOp module) {
  auto unit = mlir::UnitAttr::get(module.getContext());
  module.walk([&](mlir::linalg::TransposeOp t) {
    const int64_t rank = static_cast<int64_t>(t.getPermutation().size());
    switch (transpose_kind(t)) {
      case TransposeKind::blocks:
        t->setAttr("zephyr.tile_transpose", unit);
        t->setAttr(fmt::format("zephyr.tile_transpose_{}", rank), unit);
        break;
      case TransposeKind::rows:
        t->setAttr("zephyr.elementwise", unit);
        t->setAttr(fmt::format("zephyr.elementwise_{}", rank), unit);
        break;
      case TransposeKind::loops: break;
    }
  });
  module.walk([&](mlir::linalg::LinalgOp mm) {
    if (!is_product(mm)) return;
    auto c = mlir::cast<mlir::RankedTensorType>(mm->getResult(0).getType());
    auto b = mlir::cast<mlir::RankedTensorType>(mm.getDpsInputs()[1].getType());
    const bool one_row = mlir::isa<mlir::linalg::MatmulOp>(mm) && c.hasStaticShape() && c.getDimSize(0) == 1;
    // B larger than one core's L2 (1 MB here): kept panel by panel in L2 (transforms.mlir).
    const bool large_b =
        b.hasStaticShape() && b.getNumElements() * b.getElementTypeBitWidth() / 8 > (int64_t{1} << 20);
    mm->setAttr(one_row ? "zephyr.matvec" : large_b ? "zephyr.matmul_panel" : "zephyr.matmul", unit);
  });
  module.walk([&](mlir::linalg::GenericOp generic) {
    if (!vectorizable_elementwise(generic)) return;
    auto rank = mlir::cast<mlir::RankedTensorType>(generic->getResult(0).getType()).getRank();
    generic->setAttr("zephyr.elementwise", unit);
    generic->setAttr(fmt::format("zephyr.elementwise_{}", rank), unit);
  });
  module.walk([&](mlir::linalg::LinalgOp mm) {
    if (mlir::linalg::GenericOp user = epilogue_of(mm)) {
      user->removeAttr("zephyr.elementwise_2");  // tiled by @tile_epilogue, not as a nest of its own
      user->setAttr("zephyr.epilogue", unit);
    }
  });
}

// f32 tanh, exp, log... as inline polynomials: vectorizable, and no libm calls in AOT objects.
// What has no approximation (f64 tanh, say) calls libm.
mlir::LogicalResult approximate_math(mlir::ModuleOp module) {
  mlir::RewritePatternSet patterns(module.getContext());
  mlir::populateMathPolynomialApproximationPatterns(patterns);
  return mlir::applyPatternsAndFoldGreedily(module, std::move(patterns));
}

mlir::LogicalResult math_to_libm(mlir::ModuleOp module) {
  mlir::RewritePatternSet patterns(module.getContext());
  mlir::populateMathToLibmConversionPatterns(patterns);
  mlir::ConversionTarget target(*module.getContext());
  target.addLegalDialect<mlir::func::FuncDialect, mlir::arith::ArithDialect, mlir::vector::VectorDialect,
                         mlir::scf::SCFDialect, mlir::LLVM::LLVMDialect>();
  // Only what LLVM cannot lower by itself goes to libm.
  target.addIllegalOp<mlir::math::TanhOp, mlir::math::ErfOp, mlir::math::Atan2Op>();
  // sin/cos lower to LLVM intrinsics (libm calls) on their own.
  target.markUnknownOpDynamicallyLegal([](mlir::Operation*) { return true; });
  return mlir::applyPartialConversion(module, target, std::move(patterns));
}

// A result returned as a reshape of a buffer the kernel allocated (a pooling gradient computed
// as [n, h/2, 2, w/2, 2, c] and returned as [n, h, w, c]) would be copied into its
// out-parameter: 6 MB for the CNN's first layer. The buffer is allocated in the result's shape
// instead and the kernel writes through the inverse reshape, so the result is a plain allocation
// that buffer-results-to-out-params replaces by the out-parameter itself.
void return_reshaped_buffers_directly(mlir::ModuleOp module) {
  module.walk([](mlir::func::ReturnOp ret) {
    for (mlir::OpOperand& operand : ret->getOpOperands()) {
      mlir::Operation* reshape = operand.get().getDefiningOp();
      if (!mlir::isa_and_nonnull<mlir::memref::CollapseShapeOp, mlir::memref::ExpandShapeOp>(reshape)) continue;
      auto alloc = reshape->getOperand(0).getDefiningOp<mlir::memref::AllocOp>();
      auto type = mlir::cast<mlir::MemRefType>(operand.get().getType());
      if (!alloc || !alloc.getType().hasStaticShape() || !alloc.getType().getLayout().isIdentity() ||
          !type.getLayout().isIdentity() || alloc->getBlock() != ret->getBlock() ||
          llvm::is_contained(ret->getOperands(), alloc.getResult()))
        continue;
      mlir::OpBuilder b(alloc);
      auto whole = b.create<mlir::memref::AllocOp>(alloc.getLoc(), type, alloc.getAlignmentAttr());
      mlir::Value view;
      if (auto collapse = mlir::dyn_cast<mlir::memref::CollapseShapeOp>(reshape))
        view = b.create<mlir::memref::ExpandShapeOp>(alloc.getLoc(), alloc.getType(), whole.getResult(),
                                                     collapse.getReassociationIndices());
      else
        view = b.create<mlir::memref::CollapseShapeOp>(
            alloc.getLoc(), whole.getResult(), mlir::cast<mlir::memref::ExpandShapeOp>(reshape).getReassociationIndices());
      alloc.getResult().replaceAllUsesWith(view);
      alloc.erase();
      operand.set(whole.getResult());
      if (reshape->use_empty()) reshape->erase();
    }
  });
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

// The shape every zephyr pass has: it works on a whole module, and fails when its rewrite did.
template <class Derived>
struct ModulePass : mlir::PassWrapper<Derived, mlir::OperationPass<mlir::ModuleOp>> {
  mlir::ModuleOp module() { return this->getOperation(); }
  // The rewrites create linalg, memref, vector, scf... ops and run transform scripts: a context
  // that loaded only what the input uses (zephyr-opt's) must load the pipeline's dialects too.
  void getDependentDialects(mlir::DialectRegistry& registry) const override {
    static const mlir::DialectRegistry pipeline = dialect_registry();  // built once: it is not cheap
    pipeline.appendTo(registry);
  }
  void fail_unless(mlir::LogicalResult result) {
    if (mlir::failed(result)) this->signalPassFailure();
  }
};

// A pass that applies the named sequence `entry` of transforms.mlir, given the thread count as the
// sequence's parameter if `threads` is set. The script is parsed once, when the pass manager is
// initialized, not for every module: the JIT runs one pass manager on kernel after kernel.
template <class Derived>
struct ScriptPass : ModulePass<Derived> {
  mlir::LogicalResult initialize(mlir::MLIRContext* context) override {
    script_ = std::make_shared<mlir::OwningOpRef<mlir::ModuleOp>>(
        mlir::parseSourceString<mlir::ModuleOp>(kTransformsMlir, mlir::ParserConfig(context), "transforms.mlir"));
    return mlir::success(bool(*script_));
  }

  mlir::LogicalResult apply(llvm::StringRef entry, std::optional<int> threads) {
    mlir::ModuleOp module = this->module();
    if (!script_) return module.emitError("internal error: transforms.mlir was not parsed (pass not initialized)");
    mlir::ModuleOp script = script_->get();
    auto sequence = mlir::dyn_cast_or_null<mlir::transform::TransformOpInterface>(script.lookupSymbol(entry));
    if (!sequence) return module.emitError(fmt::format("transforms.mlir has no sequence @{}", entry.str()));
    mlir::RaggedArray<mlir::transform::MappedValue> bindings;
    bindings.push_back(llvm::ArrayRef<mlir::Operation*>{module.getOperation()});
    if (threads) {
      mlir::MLIRContext* context = module.getContext();
      mlir::Attribute count = mlir::IntegerAttr::get(mlir::IntegerType::get(context, 64), std::max(*threads, 1));
      bindings.push_back(llvm::ArrayRef<mlir::transform::Param>{count});
    }
    // The interpreter's expensive checks (every handle revalidated after each transform) were
    // most of a small kernel's script time; the script is ours and fixed, and lit tests run it.
    mlir::transform::TransformOptions options;
    options.enableExpensiveChecks(false);
    return mlir::transform::applyTransformNamedSequence(bindings, sequence, script, options);
  }

 private:
  std::shared_ptr<mlir::OwningOpRef<mlir::ModuleOp>> script_;  // shared: passes are copyable
};

struct FuseElementwise : ModulePass<FuseElementwise> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(FuseElementwise)
  llvm::StringRef getArgument() const final { return "zephyr-fuse-elementwise"; }
  llvm::StringRef getDescription() const final {
    return "Fuse elementwise producers into consumers (bias + activation: one nest); reshapes propagate "
           "through linalg.generic only, so matmuls stay matmuls";
  }
  void runOnOperation() final { fail_unless(fuse_elementwise(module())); }
};

struct FoldTransposedLhs : ModulePass<FoldTransposedLhs> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(FoldTransposedLhs)
  llvm::StringRef getArgument() const final { return "zephyr-fold-transposed-lhs"; }
  llvm::StringRef getDescription() const final {
    return "matmul(transpose(A), B) as linalg.matmul_transpose_a(A, B): A is read in place, not copied transposed";
  }
  void runOnOperation() final { fold_transposed_lhs(module()); }
};

struct PackAliasedRhs : ModulePass<PackAliasedRhs> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(PackAliasedRhs)
  PackAliasedRhs() = default;
  PackAliasedRhs(const PackAliasedRhs& other) : ModulePass(other) {}
  llvm::StringRef getArgument() const final { return "zephyr-pack-aliased-rhs"; }
  llvm::StringRef getDescription() const final {
    return "A·B whose B rows collide in L1 as a copy of B into contiguous (k, 32) panels and one product per panel; "
           "A·Bᵀ with Bᵀ made for it alone has the transpose write the panels";
  }
  void runOnOperation() final { pack_aliased_rhs(module(), threads); }
  Option<int> threads{*this, "threads", llvm::cl::desc("Thread count: above 1, the panels are shared out"), llvm::cl::init(1)};
};

struct ApproximateMath : ModulePass<ApproximateMath> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(ApproximateMath)
  llvm::StringRef getArgument() const final { return "zephyr-approximate-math"; }
  llvm::StringRef getDescription() const final { return "f32 tanh, exp, log... as inline polynomials"; }
  void runOnOperation() final { fail_unless(approximate_math(module())); }
};

struct SplitLongReductions : ModulePass<SplitLongReductions> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(SplitLongReductions)
  llvm::StringRef getArgument() const final { return "zephyr-split-long-reductions"; }
  llvm::StringRef getDescription() const final {
    return "Products with a small C and a long k, and sums whose first loop is a long reduction, as partial "
           "results over a fixed number of chunks (shared out over threads), added in chunk order";
  }
  void runOnOperation() final { split_long_reductions(module()); }
};

struct MarkThreads : ModulePass<MarkThreads> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(MarkThreads)
  MarkThreads() = default;
  MarkThreads(const MarkThreads& other) : ModulePass(other) {}
  llvm::StringRef getArgument() const final { return "zephyr-mark-threads"; }
  llvm::StringRef getDescription() const final {
    return "Mark the matmuls, transposes and elementwise nests worth splitting over threads (zephyr.parallel)";
  }
  void runOnOperation() final { mark_for_threads(module(), threads); }
  Option<int> threads{*this, "threads", llvm::cl::desc("Thread count"), llvm::cl::init(2)};
};

struct SplitMatmulRows : ModulePass<SplitMatmulRows> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(SplitMatmulRows)
  SplitMatmulRows() = default;
  SplitMatmulRows(const SplitMatmulRows& other) : ModulePass(other) {}
  llvm::StringRef getArgument() const final { return "zephyr-split-matmul-rows"; }
  llvm::StringRef getDescription() const final {
    return "Split matmuls marked zephyr.parallel into row blocks of a multiple of 8 rows that divide the rows "
           "exactly: the same bits for every thread count";
  }
  void runOnOperation() final { fail_unless(split_matmul_rows(module(), threads)); }
  Option<int> threads{*this, "threads", llvm::cl::desc("Thread count"), llvm::cl::init(2)};
};

struct MarkVectorization : ModulePass<MarkVectorization> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(MarkVectorization)
  llvm::StringRef getArgument() const final { return "zephyr-mark-vectorization"; }
  llvm::StringRef getDescription() const final {
    return "Mark the transposes (zephyr.tile_transpose) and elementwise nests (zephyr.elementwise_<rank>) "
           "that transforms.mlir tiles and vectorizes";
  }
  void runOnOperation() final { mark_for_vectorization(module()); }
};

struct TileAndVectorize : ScriptPass<TileAndVectorize> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(TileAndVectorize)
  TileAndVectorize() = default;
  TileAndVectorize(const TileAndVectorize& other) : ScriptPass(other) {}
  llvm::StringRef getArgument() const final { return "zephyr-tile-and-vectorize"; }
  llvm::StringRef getDescription() const final {
    return "transforms.mlir @tile_and_vectorize: split marked ops over threads, tile, vectorize";
  }
  void runOnOperation() final {
    fail_unless(apply("tile_and_vectorize", threads.getValue()));
    fail_unless(fold_slices_into_transfers(module()));
  }
  Option<int> threads{*this, "threads", llvm::cl::desc("Row blocks for ops marked zephyr.parallel"), llvm::cl::init(1)};
};

struct LowerVectors : ScriptPass<LowerVectors> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(LowerVectors)
  llvm::StringRef getArgument() const final { return "zephyr-lower-vectors"; }
  llvm::StringRef getDescription() const final {
    return "transforms.mlir @lower_vectors: contractions, transposes and transfers down to what LLVM lowers well";
  }
  void runOnOperation() final { fail_unless(apply("lower_vectors", std::nullopt)); }
};

struct SplitAccumulators : ModulePass<SplitAccumulators> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(SplitAccumulators)
  llvm::StringRef getArgument() const final { return "zephyr-split-accumulators"; }
  llvm::StringRef getDescription() const final {
    return "Loops that carry one small float vector through an FMA per step (matrix-vector rows) unrolled "
           "with 2 to 4 accumulators, so FMAs do not wait on each other's latency";
  }
  void runOnOperation() final { split_accumulator_chains(module()); }
};

struct SeparateReturnedBuffers : ModulePass<SeparateReturnedBuffers> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(SeparateReturnedBuffers)
  llvm::StringRef getArgument() const final { return "zephyr-separate-returned-buffers"; }
  llvm::StringRef getDescription() const final {
    return "Allocate a buffer returned through a reshape in the result's shape, and copy returned memrefs that are "
           "arguments or returned twice, so each result is a fresh buffer";
  }
  void runOnOperation() final {
    return_reshaped_buffers_directly(module());
    separate_returned_buffers(module());
  }
};

struct MathToLibm : ModulePass<MathToLibm> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(MathToLibm)
  llvm::StringRef getArgument() const final { return "zephyr-math-to-libm"; }
  llvm::StringRef getDescription() const final { return "The math ops LLVM cannot lower itself (f64 tanh, erf) as libm calls"; }
  void runOnOperation() final { fail_unless(math_to_libm(module())); }
};

}  // namespace

std::unique_ptr<mlir::Pass> create_fuse_elementwise_pass() { return std::make_unique<FuseElementwise>(); }
std::unique_ptr<mlir::Pass> create_fold_transposed_lhs_pass() { return std::make_unique<FoldTransposedLhs>(); }
std::unique_ptr<mlir::Pass> create_pack_aliased_rhs_pass(int threads) {
  auto pass = std::make_unique<PackAliasedRhs>();
  pass->threads = threads;
  return pass;
}
std::unique_ptr<mlir::Pass> create_approximate_math_pass() { return std::make_unique<ApproximateMath>(); }
std::unique_ptr<mlir::Pass> create_split_long_reductions_pass() { return std::make_unique<SplitLongReductions>(); }
std::unique_ptr<mlir::Pass> create_mark_threads_pass(int threads) {
  auto pass = std::make_unique<MarkThreads>();
  pass->threads = threads;
  return pass;
}
std::unique_ptr<mlir::Pass> create_split_matmul_rows_pass(int threads) {
  auto pass = std::make_unique<SplitMatmulRows>();
  pass->threads = threads;
  return pass;
}
std::unique_ptr<mlir::Pass> create_mark_vectorization_pass() { return std::make_unique<MarkVectorization>(); }
std::unique_ptr<mlir::Pass> create_tile_and_vectorize_pass(int threads) {
  auto pass = std::make_unique<TileAndVectorize>();
  pass->threads = threads;
  return pass;
}
std::unique_ptr<mlir::Pass> create_lower_vectors_pass() { return std::make_unique<LowerVectors>(); }
std::unique_ptr<mlir::Pass> create_split_accumulators_pass() { return std::make_unique<SplitAccumulators>(); }
std::unique_ptr<mlir::Pass> create_separate_returned_buffers_pass() { return std::make_unique<SeparateReturnedBuffers>(); }
std::unique_ptr<mlir::Pass> create_math_to_libm_pass() { return std::make_unique<MathToLibm>(); }

void register_passes() {
  mlir::PassRegistration<FuseElementwise>();
  mlir::PassRegistration<FoldTransposedLhs>();
  mlir::PassRegistration<PackAliasedRhs>();
  mlir::PassRegistration<ApproximateMath>();
  mlir::PassRegistration<SplitLongReductions>();
  mlir::PassRegistration<MarkThreads>();
  mlir::PassRegistration<SplitMatmulRows>();
  mlir::PassRegistration<MarkVectorization>();
  mlir::PassRegistration<TileAndVectorize>();
  mlir::PassRegistration<LowerVectors>();
  mlir::PassRegistration<SplitAccumulators>();
  mlir::PassRegistration<SeparateReturnedBuffers>();
  mlir::PassRegistration<MathToLibm>();
}

}  // namespace zephyr::compiler
