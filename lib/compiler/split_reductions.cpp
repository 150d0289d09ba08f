// A reduction whose result is small gives the row split (passes.cpp: split_matmul_rows, and the
// script's @split_rows) nothing to share: the CNN's first weight gradient is a 9 x 32 Aᵀ·B over
// k = 50176, its bias gradient a sum of 50176 rows of 32. On two threads such a kernel ran on one,
// at less than its one-thread speed while the other thread's OpenMP worker spun (0.38 and 0.22 ms
// on one thread, 0.41 and 0.25 on two). Split into a fixed number of chunks, each reduced by one
// thread in its own order and then added in chunk order, the work is shared and the bits do not
// depend on the thread count. (Split by the thread count, as MLIR's tile_reduction_using_forall
// does, they would.)
#include "split_reductions.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/LoopLikeInterface.h"

namespace zephyr::compiler {
namespace {

constexpr int64_t kChunks = 8;  // fixed: shared out 4 + 4 on two threads, 3 + 3 + 2 on three
constexpr int64_t kMinProductK = 8192;  // below this, a product's k loop is not worth a fork
constexpr int64_t kMaxProductResult = 4096;  // C's elements: kChunks partials stay in L1 and L2
constexpr int64_t kMinSummed = int64_t{1} << 18;  // elements a sum reads (1 MB of f32)

using mlir::OpFoldResult;
using mlir::Value;

// Ops inside a loop are left alone: a packed product's panels (zephyr-pack-aliased-rhs) are a
// loop on one thread and an scf.forall on several, and splitting them in one case only would
// make the bits depend on the thread count.
bool on_static_f32_tensors(mlir::Operation* op) {
  auto linalg = mlir::cast<mlir::linalg::LinalgOp>(op);
  if (!linalg.hasPureTensorSemantics() || op->getParentOfType<mlir::LoopLikeOpInterface>()) return false;
  for (Value v : op->getOperands()) {
    auto t = mlir::dyn_cast<mlir::RankedTensorType>(v.getType());
    if (!t || !t.hasStaticShape() || !t.getElementType().isF32()) return false;
  }
  return true;
}

// C = A·B or Aᵀ·B (B is (k, n) in both) with a small C and a long k that divides into chunks.
bool is_long_product(mlir::linalg::LinalgOp mm) {
  if (!mlir::isa<mlir::linalg::MatmulOp, mlir::linalg::MatmulTransposeAOp>(mm) || !on_static_f32_tensors(mm)) return false;
  const int64_t k = mlir::cast<mlir::RankedTensorType>(mm.getDpsInputs()[1].getType()).getDimSize(0);
  const auto c = mlir::cast<mlir::RankedTensorType>(mm->getResult(0).getType());
  return c.getNumElements() <= kMaxProductResult && k >= kMinProductK && k % kChunks == 0;
}

// Whether a generic's one accumulator is carried by an add (`out = f(in...) + out`): the sums
// split here are those whose body ends in it, whatever it computes before (x * x fused in).
bool accumulates_by_add(mlir::linalg::GenericOp generic) {
  auto yield = mlir::cast<mlir::linalg::YieldOp>(generic.getBody()->getTerminator());
  mlir::BlockArgument acc = generic.getRegionOutputArgs()[0];
  auto add = yield.getValues()[0].getDefiningOp<mlir::arith::AddFOp>();
  return add && add->getBlock() == generic.getBody() && acc.hasOneUse() &&
         (add.getLhs() == acc || add.getRhs() == acc);
}

// A sum of one input read in place (identity map) whose first loop is a long reduction.
bool is_long_sum(mlir::linalg::GenericOp generic) {
  if (generic.getNumDpsInputs() != 1 || generic->getNumResults() != 1 || !on_static_f32_tensors(generic)) return false;
  const llvm::SmallVector<int64_t> loops = generic.getStaticLoopRanges();
  if (loops.empty() || generic.getIteratorTypesArray()[0] != mlir::utils::IteratorType::reduction) return false;
  if (!generic.getMatchingIndexingMap(generic.getDpsInputOperand(0)).isIdentity() || !accumulates_by_add(generic) ||
      !generic.getBody()->getOps<mlir::linalg::IndexOp>().empty())  // an index of the split loop would change
    return false;
  const auto in = mlir::cast<mlir::RankedTensorType>(generic.getDpsInputs()[0].getType());
  return loops[0] % kChunks == 0 && loops[0] >= 2 * kChunks && in.getNumElements() >= kMinSummed;
}

// init + Σ_g partials[g] (partials: [kChunks, shape of init]), added in chunk order.
Value add_partials(mlir::OpBuilder& b, mlir::Location loc, Value partials, Value init) {
  mlir::MLIRContext* ctx = b.getContext();
  const auto type = mlir::cast<mlir::RankedTensorType>(init.getType());
  const unsigned rank = static_cast<unsigned>(type.getRank());
  llvm::SmallVector<mlir::AffineExpr> chunk_first{mlir::getAffineDimExpr(rank, ctx)}, same;
  for (unsigned i = 0; i < rank; ++i) {
    chunk_first.push_back(mlir::getAffineDimExpr(i, ctx));
    same.push_back(mlir::getAffineDimExpr(i, ctx));
  }
  llvm::SmallVector<mlir::AffineMap> maps{mlir::AffineMap::get(rank + 1, 0, chunk_first, ctx),
                                          mlir::AffineMap::get(rank + 1, 0, same, ctx)};
  llvm::SmallVector<mlir::utils::IteratorType> iters(rank, mlir::utils::IteratorType::parallel);
  iters.push_back(mlir::utils::IteratorType::reduction);
  return b
      .create<mlir::linalg::GenericOp>(loc, mlir::TypeRange{type}, mlir::ValueRange{partials}, mlir::ValueRange{init}, maps,
                                       iters,
                                       [](mlir::OpBuilder& nb, mlir::Location l, mlir::ValueRange args) {
                                         Value sum = nb.create<mlir::arith::AddFOp>(l, args[1], args[0]);
                                         nb.create<mlir::linalg::YieldOp>(l, sum);
                                       })
      .getResult(0);
}

// Zeros of [kChunks, shape of `like`].
Value zero_partials(mlir::OpBuilder& b, mlir::Location loc, mlir::RankedTensorType like) {
  llvm::SmallVector<int64_t> shape{kChunks};
  shape.append(like.getShape().begin(), like.getShape().end());
  Value empty = b.create<mlir::tensor::EmptyOp>(loc, shape, like.getElementType());
  Value zero = b.create<mlir::arith::ConstantOp>(loc, b.getZeroAttr(like.getElementType()));
  return b.create<mlir::linalg::FillOp>(loc, mlir::ValueRange{zero}, mlir::ValueRange{empty}).getResult(0);
}

// One product per chunk of k into its own slice of the partials, in an scf.forall over the
// chunks (an OpenMP loop on several threads, a plain loop on one).
void split_product(mlir::IRRewriter& rewriter, mlir::linalg::LinalgOp mm) {
  const mlir::Location loc = mm.getLoc();
  rewriter.setInsertionPoint(mm);
  const Value a = mm.getDpsInputs()[0], b = mm.getDpsInputs()[1], c = mm.getDpsInits()[0];
  const bool transposed_a = mlir::isa<mlir::linalg::MatmulTransposeAOp>(mm);
  const auto c_type = mlir::cast<mlir::RankedTensorType>(c.getType());
  const int64_t m = c_type.getDimSize(0), n = c_type.getDimSize(1);
  const int64_t chunk = mlir::cast<mlir::RankedTensorType>(b.getType()).getDimSize(0) / kChunks;
  const Value partials = zero_partials(rewriter, loc, c_type);
  auto forall = rewriter.create<mlir::scf::ForallOp>(
      loc, llvm::ArrayRef<OpFoldResult>{rewriter.getIndexAttr(kChunks)}, mlir::ValueRange{partials}, std::nullopt,
      [&](mlir::OpBuilder& nb, mlir::Location l, mlir::ValueRange args) {
        auto attr = [&](int64_t i) -> OpFoldResult { return nb.getIndexAttr(i); };
        const Value g = args[0], out = args[1];
        const OpFoldResult start =
            nb.create<mlir::arith::MulIOp>(l, g, nb.create<mlir::arith::ConstantIndexOp>(l, chunk)).getResult();
        auto slice = [&](Value of, llvm::SmallVector<OpFoldResult> offsets, llvm::SmallVector<OpFoldResult> sizes) {
          return nb.create<mlir::tensor::ExtractSliceOp>(l, of, offsets, sizes,
                                                         llvm::SmallVector<OpFoldResult>(2, attr(1)))
              .getResult();
        };
        const Value a_chunk = transposed_a ? slice(a, {start, attr(0)}, {attr(chunk), attr(m)})
                                           : slice(a, {attr(0), start}, {attr(m), attr(chunk)});
        const Value b_chunk = slice(b, {start, attr(0)}, {attr(chunk), attr(n)});
        const llvm::SmallVector<OpFoldResult> offsets{g, attr(0), attr(0)}, sizes{attr(1), attr(m), attr(n)},
            strides(3, attr(1));
        const Value into = nb.create<mlir::tensor::ExtractSliceOp>(l, c_type, out, offsets, sizes, strides);
        mlir::Operation* product =
            transposed_a ? nb.create<mlir::linalg::MatmulTransposeAOp>(l, mlir::TypeRange{c_type},
                                                                        mlir::ValueRange{a_chunk, b_chunk}, mlir::ValueRange{into})
                               .getOperation()
                         : nb.create<mlir::linalg::MatmulOp>(l, mlir::TypeRange{c_type}, mlir::ValueRange{a_chunk, b_chunk},
                                                             mlir::ValueRange{into})
                               .getOperation();
        auto in_parallel = nb.create<mlir::scf::InParallelOp>(l);
        nb.setInsertionPointToStart(in_parallel.getBody());
        nb.create<mlir::tensor::ParallelInsertSliceOp>(l, product->getResult(0), out, offsets, sizes, strides);
      });
  rewriter.replaceOp(mm, add_partials(rewriter, loc, forall.getResult(0), c));
}

// The sum's first loop (extent e) as kChunks chunks of e / kChunks: partial[g, ...] sums chunk g
// with the sum's own body, a loop nest whose first loop is parallel (so mark_for_threads shares
// the chunks out, each whole), then the partials are added into the sum's init. (MLIR's
// linalg::splitReduction does this for ops with one reduction loop; a bias gradient over
// [n, h, w, c] has three.)
void split_sum(mlir::IRRewriter& rewriter, mlir::linalg::GenericOp sum) {
  const mlir::Location loc = sum.getLoc();
  mlir::MLIRContext* ctx = rewriter.getContext();
  rewriter.setInsertionPoint(sum);
  const auto in_type = mlir::cast<mlir::RankedTensorType>(sum.getDpsInputs()[0].getType());
  const auto out_type = mlir::cast<mlir::RankedTensorType>(sum->getResult(0).getType());
  llvm::SmallVector<int64_t> split_shape{kChunks, in_type.getDimSize(0) / kChunks};
  split_shape.append(in_type.getShape().begin() + 1, in_type.getShape().end());
  llvm::SmallVector<mlir::ReassociationIndices> reassociation{{0, 1}};
  for (int64_t i = 2; i <= in_type.getRank(); ++i) reassociation.push_back({i});
  const Value split = rewriter.create<mlir::tensor::ExpandShapeOp>(
      loc, mlir::RankedTensorType::get(split_shape, in_type.getElementType()), sum.getDpsInputs()[0], reassociation);

  const unsigned loops = sum.getNumLoops() + 1;
  const mlir::AffineMap out_map = sum.getMatchingIndexingMap(sum.getDpsInitOperand(0)).shiftDims(1);
  llvm::SmallVector<mlir::AffineExpr> partial_results{mlir::getAffineDimExpr(0, ctx)};
  partial_results.append(out_map.getResults().begin(), out_map.getResults().end());
  llvm::SmallVector<mlir::AffineMap> maps{mlir::AffineMap::getMultiDimIdentityMap(loops, ctx),
                                          mlir::AffineMap::get(loops, 0, partial_results, ctx)};
  llvm::SmallVector<mlir::utils::IteratorType> iters{mlir::utils::IteratorType::parallel};
  for (mlir::utils::IteratorType t : sum.getIteratorTypesArray()) iters.push_back(t);

  const Value partials_init = zero_partials(rewriter, loc, out_type);
  mlir::Block* body = sum.getBody();
  auto partial = rewriter.create<mlir::linalg::GenericOp>(
      loc, mlir::TypeRange{partials_init.getType()}, mlir::ValueRange{split}, mlir::ValueRange{partials_init}, maps, iters,
      [&](mlir::OpBuilder& nb, mlir::Location, mlir::ValueRange args) {
        mlir::IRMapping mapping;
        mapping.map(body->getArguments(), args);
        for (mlir::Operation& op : body->without_terminator()) nb.clone(op, mapping);
        nb.clone(*body->getTerminator(), mapping);
      });
  rewriter.replaceOp(sum, add_partials(rewriter, loc, partial.getResult(0), sum.getDpsInits()[0]));
}

}  // namespace

void split_long_reductions(mlir::ModuleOp module) {
  llvm::SmallVector<mlir::linalg::LinalgOp> products;
  llvm::SmallVector<mlir::linalg::GenericOp> sums;
  module.walk([&](mlir::linalg::LinalgOp op) {
    if (is_long_product(op)) products.push_back(op);
    auto generic = mlir::dyn_cast<mlir::linalg::GenericOp>(op.getOperation());
    if (generic && is_long_sum(generic)) sums.push_back(generic);
  });
  mlir::IRRewriter rewriter(module.getContext());
  for (mlir::linalg::LinalgOp mm : products) split_product(rewriter, mm);
  for (mlir::linalg::GenericOp sum : sums) split_sum(rewriter, sum);
}

}  // namespace zephyr::compiler
