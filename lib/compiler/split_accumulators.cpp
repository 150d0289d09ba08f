// A matrix-vector tile (a batch-1 layer, marked zephyr.matvec) accumulates its row of C in a
// vector carried by the k loop: acc = fma(x[k], B[k, :], acc). Each step waits for the last FMA
// (4 cycles), where two FMA ports need 8 independent FMAs in flight: a row of 64 floats (4 zmm)
// leaves half of them idle, a row of 10 (the classifier's logits, 1 zmm) seven eighths. Unrolling
// the loop by U with U accumulators, added after the loop, keeps up to 8 chains in flight (a
// hand-written version of a 64-64-64 MLP's two layers: 129 -> 114 ns). The sum is reassociated
// (k split by its residue mod U), the same way on every run and thread count.
#include "split_accumulators.h"

#include <optional>

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace zephyr::compiler {
namespace {

constexpr int64_t kChainsInFlight = 8;  // FMA latency (4 cycles) times FMA ports (2)
constexpr int64_t kRegisterBits = 512;
constexpr int64_t kMaxUnroll = 4;
// Set by transforms.mlir on a matrix-vector tile's k loop. Only those: a remainder row of a
// matmul tile has the same shape of loop, but splitting it there and not where the same product
// is tiled without a remainder would change a result's bits with the kernel partition.
constexpr llvm::StringLiteral kMarker = "zephyr.matvec_k";

// The value the loop yields for its one iter_arg when the step is `acc + f(k)`: the iter_arg's
// only use starts a chain of reshapes (same element count) and exactly one combining op (acc
// operand of vector.fma, or either operand of arith.addf) that ends at the yield. Else nothing.
std::optional<mlir::Value> accumulated(mlir::scf::ForOp loop) {
  mlir::Value v = loop.getRegionIterArgs()[0];
  int combines = 0;
  while (v.hasOneUse()) {
    mlir::OpOperand& use = *v.getUses().begin();
    mlir::Operation* user = use.getOwner();
    if (user == loop.getBody()->getTerminator()) return combines == 1 ? std::optional(v) : std::nullopt;
    if (mlir::isa<mlir::vector::FMAOp>(user)) {
      if (use.getOperandNumber() != 2) return std::nullopt;  // the accumulator, not a factor
      ++combines;
    } else if (mlir::isa<mlir::arith::AddFOp>(user)) {
      ++combines;
    } else if (mlir::isa<mlir::vector::ExtractOp, mlir::vector::BroadcastOp, mlir::vector::ShapeCastOp>(user)) {
      // Only a change of shape: an extract that picked a part of the accumulator would drop the rest.
      auto from = mlir::dyn_cast<mlir::VectorType>(v.getType());
      auto to = mlir::dyn_cast<mlir::VectorType>(user->getResult(0).getType());
      if (!from || !to || from.getNumElements() != to.getNumElements()) return std::nullopt;
    } else {
      return std::nullopt;
    }
    v = user->getResult(0);
  }
  return std::nullopt;
}

// How many accumulators `loop` gets (0: left alone).
int64_t unroll_factor(mlir::scf::ForOp loop) {
  if (!loop->hasAttr(kMarker) || loop.getNumRegionIterArgs() != 1) return 0;
  auto type = mlir::dyn_cast<mlir::VectorType>(loop.getRegionIterArgs()[0].getType());
  if (!type || type.isScalable() || !mlir::isa<mlir::FloatType>(type.getElementType())) return 0;
  const int64_t registers =
      (type.getNumElements() * type.getElementTypeBitWidth() + kRegisterBits - 1) / kRegisterBits;
  if (registers >= kChainsInFlight) return 0;
  std::optional<int64_t> lb = mlir::getConstantIntValue(loop.getLowerBound());
  std::optional<int64_t> ub = mlir::getConstantIntValue(loop.getUpperBound());
  std::optional<int64_t> step = mlir::getConstantIntValue(loop.getStep());
  if (!lb || !ub || !step || *step <= 0 || *ub <= *lb) return 0;
  // Reads only, no nested loops: the copies of the body must not observe each other.
  for (mlir::Operation& op : loop.getBody()->without_terminator())
    if (op.getNumRegions() != 0 || !mlir::isMemoryEffectFree(&op)) return 0;
  if (!accumulated(loop)) return 0;
  const int64_t trips = (*ub - *lb) / *step;
  for (int64_t u = std::min<int64_t>(kMaxUnroll, (kChainsInFlight + registers - 1) / registers); u >= 2; --u)
    if ((*ub - *lb) % (*step * u) == 0 && trips >= 2 * u) return u;
  return 0;
}

void split(mlir::scf::ForOp loop, int64_t unroll) {
  mlir::OpBuilder b(loop);
  mlir::Location loc = loop.getLoc();
  const int64_t step = *mlir::getConstantIntValue(loop.getStep());
  mlir::Value result = *accumulated(loop);
  auto type = mlir::cast<mlir::VectorType>(loop.getRegionIterArgs()[0].getType());
  mlir::Value zero = b.create<mlir::arith::ConstantOp>(loc, type, b.getZeroAttr(type));
  llvm::SmallVector<mlir::Value> inits{loop.getInitArgs()[0]};
  inits.append(static_cast<size_t>(unroll - 1), zero);
  mlir::Value wide_step = b.create<mlir::arith::ConstantIndexOp>(loc, step * unroll);
  auto unrolled = b.create<mlir::scf::ForOp>(
      loc, loop.getLowerBound(), loop.getUpperBound(), wide_step, inits,
      [&](mlir::OpBuilder& nb, mlir::Location l, mlir::Value k, mlir::ValueRange accs) {
        llvm::SmallVector<mlir::Value> next;
        for (int64_t u = 0; u < unroll; ++u) {
          mlir::IRMapping map;
          map.map(loop.getInductionVar(),
                  u == 0 ? k : nb.create<mlir::arith::AddIOp>(l, k, nb.create<mlir::arith::ConstantIndexOp>(l, u * step)));
          map.map(loop.getRegionIterArgs()[0], accs[u]);
          for (mlir::Operation& op : loop.getBody()->without_terminator()) nb.clone(op, map);
          next.push_back(map.lookup(result));
        }
        nb.create<mlir::scf::YieldOp>(l, next);
      });
  // Pairwise: (a0 + a1) + (a2 + a3).
  llvm::SmallVector<mlir::Value> sums(unrolled.getResults());
  while (sums.size() > 1) {
    llvm::SmallVector<mlir::Value> pairs;
    for (size_t i = 0; i + 1 < sums.size(); i += 2) pairs.push_back(b.create<mlir::arith::AddFOp>(loc, sums[i], sums[i + 1]));
    if (sums.size() % 2) pairs.push_back(sums.back());
    sums = std::move(pairs);
  }
  loop.getResult(0).replaceAllUsesWith(sums.front());
  loop.erase();
}

}  // namespace

void split_accumulator_chains(mlir::ModuleOp module) {
  llvm::SmallVector<std::pair<mlir::scf::ForOp, int64_t>> loops;
  module.walk([&](mlir::scf::ForOp loop) {
    if (int64_t u = unroll_factor(loop)) loops.push_back({loop, u});
  });
  for (auto [loop, u] : loops) split(loop, u);
  module.walk([](mlir::scf::ForOp loop) { loop->removeAttr(kMarker); });
}

}  // namespace zephyr::compiler
