// The emitter's rewrites planned before any op is emitted (emitter.h): a product that starts
// from its bias, and a large sum of zero pads computed image by image.
#include <algorithm>

#include "emitter.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "readers.h"

namespace zephyr::compiler {

// The fusions decided before emitting: products that start from their bias, and window sums
// computed image by image. Both need each node's number of uses.
void Emitter::plan(const Function& fn, const std::vector<const Node*>& order) {
  std::unordered_map<const Node*, int> uses;
  for (const NodePtr& r : fn.results) ++uses[r.get()];
  for (const Node* n : order)
    for (const NodePtr& i : n->inputs) ++uses[i.get()];
  plan_bias_products(order, uses, Readers(order, fn.results));
  plan_window_sums(order, uses);
}

// A product whose one use is `add(product, bias)`, maybe through reshapes (a linear layer, a
// convolution's im2col product, an attention mask), starts from the bias broadcast instead of
// zeros: C is written once, where zeros, the product into a temporary and a separate pass
// adding the bias wrote it three times and read it twice (and the temporary, 6 MB for the
// CNN's first convolution, was fresh memory to fault in). Floats only: the sum is associated
// as bias + (a·b), which differs from (a·b) + bias by rounding alone.
// Not when one elementwise op reads the sum (a ReLU): then the add and the op are one nest over the
// product, its epilogue, which the script applies to each tile of C while it is in cache, its
// zero fill fused into the tile too (tile_epilogue); starting from the bias, C would be a
// full-size temporary besides the kernel's output, written and read once more. The partition
// keeps such a sum in its reader's kernel (readers.h), so kernels and the whole graph agree.
void Emitter::plan_bias_products(const std::vector<const Node*>& order, std::unordered_map<const Node*, int>& uses,
                                 const Readers& readers) {
  for (const Node* n : order) {
    if (n->op != OpKind::Add || n->inputs.size() != 2 || (n->dtype != DType::f32 && n->dtype != DType::f64) ||
        readers.one_elementwise_loop(n))
      continue;
    for (size_t k = 0; k < 2; ++k) {
      const Node* bias = n->inputs[1 - k].get();
      std::vector<const Node*> chain{n->inputs[k].get()};  // the product, then its reshapes
      while (chain.back()->op == OpKind::Reshape && uses[chain.back()] == 1) chain.push_back(chain.back()->inputs[0].get());
      const Node* product = chain.back();
      if (product->op != OpKind::MatMul || uses[product] != 1 || chain.front()->shape != n->shape ||
          product->dtype != n->dtype || bias->dtype != n->dtype || std::count(chain.begin(), chain.end(), bias))
        continue;
      bias_products_[n] = {product, bias};
      folded_products_.insert(chain.begin(), chain.end());
      break;
    }
  }
}

Value Emitter::bias_product(const Node* add, std::pair<const Node*, const Node*> product_and_bias) {
  auto [product, bias] = product_and_bias;
  mlir::Location l = loc(add);
  auto [v, map] = broadcast_operand(values_.at(bias), bias->shape, add->shape, l);
  const unsigned rank = static_cast<unsigned>(add->shape.size());
  llvm::SmallVector<mlir::AffineMap> maps{map, b_.getMultiDimIdentityMap(rank)};
  llvm::SmallVector<mlir::utils::IteratorType> iters(rank, mlir::utils::IteratorType::parallel);
  Value init = b_.create<mlir::linalg::GenericOp>(
                     l, mlir::TypeRange{tensor_type(add)}, mlir::ValueRange{v}, mlir::ValueRange{empty(add)}, maps, iters,
                     [](mlir::OpBuilder& nb, mlir::Location bl, mlir::ValueRange args) {
                       nb.create<mlir::linalg::YieldOp>(bl, args[0]);
                     })
                   .getResult(0);
  Value sum = matmul(product, reshape(init, add->shape, product->shape, l));
  return reshape(sum, product->shape, add->shape, l);
}

// acc + pad(g, 0) as acc with g added into the padded window: the gradient of a slice (each
// kernel offset of a convolution's im2col) accumulates in place instead of materializing a
// zero-padded full-size tensor per offset. The Pad, if nothing else uses it, is dead code.
Value Emitter::add_into_window(const Node* n) {
  const Node* pad = window_term(n);
  if (!pad) return {};
  return add_window(b_, loc(n), values_.at(other_operand(n, pad)), values_.at(pad->inputs[0].get()), pad);
}

// The operand of `add` that is a zero pad added into the other's window, or null: a float add
// whose operands both have its shape, one of them a pad by zeros that crops nothing.
const Node* Emitter::window_term(const Node* add) {
  if (add->op != OpKind::Add || !is_float(add->dtype) || add->inputs.size() != 2) return nullptr;
  for (size_t k = 0; k < 2; ++k) {
    const Node* pad = add->inputs[k].get();
    if (pad != add->inputs[1 - k].get() && add->inputs[1 - k]->shape == add->shape && is_zero_pad_of(pad, add->shape))
      return pad;
  }
  return nullptr;
}

bool Emitter::is_zero_pad_of(const Node* pad, const Shape& shape) {
  if (pad->op != OpKind::Pad || pad->shape != shape || pad->attrs.value.at(0) != 0.0) return false;
  for (size_t a = 0; a < pad->attrs.low.size(); ++a)
    if (pad->attrs.low[a] < 0 || pad->attrs.high[a] < 0) return false;
  return true;
}

const Node* Emitter::other_operand(const Node* add, const Node* operand) {
  return add->inputs[0].get() == operand ? add->inputs[1].get() : add->inputs[0].get();
}

// `acc` with g added into its window at the pad's offsets and strides.
Value Emitter::add_window(mlir::OpBuilder& b, mlir::Location l, Value acc, Value g, const Node* pad) {
  auto window_type = mlir::cast<mlir::RankedTensorType>(g.getType());
  llvm::SmallVector<mlir::OpFoldResult> offsets, sizes, strides;
  for (int64_t a = 0; a < window_type.getRank(); ++a) {
    offsets.push_back(b.getIndexAttr(pad->attrs.low[a]));
    sizes.push_back(b.getIndexAttr(window_type.getDimSize(a)));
    strides.push_back(b.getIndexAttr(pad->attrs.interior[a] + 1));
  }
  Value current = b.create<mlir::tensor::ExtractSliceOp>(l, window_type, acc, offsets, sizes, strides);
  unsigned rank = static_cast<unsigned>(window_type.getRank());
  llvm::SmallVector<mlir::AffineMap> maps(2, b.getMultiDimIdentityMap(rank));
  llvm::SmallVector<mlir::utils::IteratorType> iters(rank, mlir::utils::IteratorType::parallel);
  // The window is the generic's init, read and written in place: with a fresh init, the sum
  // would go to a temporary that bufferization then copies into the window.
  auto sum = b.create<mlir::linalg::GenericOp>(
      l, mlir::TypeRange{window_type}, mlir::ValueRange{g}, mlir::ValueRange{current}, maps, iters,
      [&](mlir::OpBuilder& nb, mlir::Location bl, mlir::ValueRange args) {
        nb.create<mlir::linalg::YieldOp>(bl, Value(nb.create<mlir::arith::AddFOp>(bl, args[1], args[0])));
      });
  return b.create<mlir::tensor::InsertSliceOp>(l, sum.getResult(0), acc, offsets, sizes, strides);
}

// A large sum of zero pads (a convolution's input gradient: one padded slice of the patches'
// gradient per kernel offset, nine for 3x3) is computed one index of axis 0 at a time: each
// image's sum is zeroed and takes its nine windows while it is in L1. Added window by window
// over the whole tensor instead, the sum (2 MB for the CNN's second convolution) went through
// L2 and L3 nine times. The terms are added in the same order either way (the same bits).
// Planned from the last add of each chain, in reverse order, so that its inner adds (used by
// it alone) are folded into it.
void Emitter::plan_window_sums(const std::vector<const Node*>& order, std::unordered_map<const Node*, int>& uses) {
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const Node* n = *it;
    const Node* term = window_term(n);
    if (!term || folded_window_adds_.count(n) || n->shape.size() < 2 || n->shape[0] < 2) continue;
    const size_t bytes = nbytes(n->shape, n->dtype), image_bytes = bytes / static_cast<size_t>(n->shape[0]);
    if (bytes < kWindowSumByImageBytes || image_bytes > kWindowSumImageMaxBytes) continue;
    std::vector<const Node*> terms{term}, inner;
    const Node* rest = other_operand(n, term);
    while (uses[rest] == 1 && window_term(rest)) {
      inner.push_back(rest);
      terms.push_back(window_term(rest));
      rest = other_operand(rest, terms.back());
    }
    if (!is_zero_pad_of(rest, n->shape)) continue;  // the innermost term starts from zeros
    terms.push_back(rest);
    const bool images_apart = std::all_of(terms.begin(), terms.end(), [](const Node* pad) {
      return pad->attrs.low[0] == 0 && pad->attrs.high[0] == 0 && pad->attrs.interior[0] == 0;
    });
    if (!images_apart) continue;
    std::reverse(terms.begin(), terms.end());  // innermost first: the order they were added in
    window_sums_[n] = std::move(terms);
    folded_window_adds_.insert(inner.begin(), inner.end());
  }
}

// The sum of `terms` (zero pads of n's shape, innermost first), one image at a time: an
// scf.forall, shared out on several threads and a loop on one (pipeline.cpp).
Value Emitter::window_sum_by_image(const Node* n, const std::vector<const Node*>& terms) {
  mlir::Location l = loc(n);
  auto forall = b_.create<mlir::scf::ForallOp>(
      l, llvm::ArrayRef<mlir::OpFoldResult>{b_.getIndexAttr(n->shape[0])}, mlir::ValueRange{empty(n)}, std::nullopt,
      [&](mlir::OpBuilder& nb, mlir::Location, mlir::ValueRange args) {
        const Value i = args[0], out = args[1];
        const Window at = step_window(mlir::cast<mlir::RankedTensorType>(out.getType()), i);
        Value image = nb.create<mlir::tensor::ExtractSliceOp>(l, out, at.offsets, at.sizes, at.strides);
        Value zero = nb.create<mlir::arith::ConstantOp>(l, mlir::cast<mlir::TypedAttr>(nb.getZeroAttr(element(n->dtype))));
        image = nb.create<mlir::linalg::FillOp>(l, zero, image).getResult(0);
        for (const Node* pad : terms) {
          const Value g = values_.at(pad->inputs[0].get());
          const Window from = step_window(mlir::cast<mlir::RankedTensorType>(g.getType()), i);
          Value g_image = nb.create<mlir::tensor::ExtractSliceOp>(l, g, from.offsets, from.sizes, from.strides);
          image = add_window(nb, l, image, g_image, pad);
        }
        auto in_parallel = nb.create<mlir::scf::InParallelOp>(l);
        nb.setInsertionPointToStart(in_parallel.getBody());
        nb.create<mlir::tensor::ParallelInsertSliceOp>(l, image, out, at.offsets, at.sizes, at.strides);
      });
  return forall.getResult(0);
}

}  // namespace zephyr::compiler
