// The emitter: one of our Functions as a func on tensors in linalg/tensor/arith/math/scf.
// Internal to lib/compiler. Its members are defined in three files:
//   emit_linalg.cpp        each op's lowering: leaves, elementwise, reductions, products, data movement
//   emit_fusions.cpp       what is planned before emitting: products that start from their bias, and
//                          sums of zero pads (a convolution's input gradient) image by image
//   emit_control_flow.cpp  scan, while and cond, their bodies emitted inside the loop's regions
#pragma once

#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "zephyr/graph.h"

namespace zephyr::compiler {

class Readers;

using mlir::Value;

class Emitter {
 public:
  Emitter(mlir::MLIRContext& ctx, mlir::ModuleOp module) : ctx_(ctx), b_(&ctx) {
    b_.setInsertionPointToEnd(module.getBody());
  }
  /// Appends `fn` to the module as a func.func of the same name.
  void emit(const Function& fn);

 private:
  // ---- emit_linalg.cpp ----
  mlir::Type element(DType d);
  mlir::RankedTensorType tensor_type(const Node* n) { return mlir::RankedTensorType::get(n->shape, element(n->dtype)); }
  mlir::Location loc(const Node* n);
  Value in(const Node* n, size_t i) { return values_.at(n->inputs[i].get()); }
  Value empty(const Node* n) { return b_.create<mlir::tensor::EmptyOp>(loc(n), n->shape, element(n->dtype)); }
  Value emit(const Node* n);
  // Leaves
  mlir::Attribute scalar_attr(DType d, double v);
  Value constant(const Node* n);
  Value iota(const Node* n);
  // Elementwise
  std::pair<Value, mlir::AffineMap> broadcast_operand(Value v, const Shape& shape, const Shape& out, mlir::Location l);
  Value elementwise(const Node* n);
  Value scalar_op(mlir::OpBuilder& nb, mlir::Location l, const Node* n, mlir::ValueRange x);
  Value integer_divide(mlir::OpBuilder& nb, mlir::Location l, bool is_unsigned, Value a, Value b);
  Value compare(mlir::OpBuilder& nb, mlir::Location l, bool f, mlir::arith::CmpFPredicate fp,
                mlir::arith::CmpIPredicate ip, mlir::ValueRange x) {
    if (f) return nb.create<mlir::arith::CmpFOp>(l, fp, x[0], x[1]);
    return nb.create<mlir::arith::CmpIOp>(l, ip, x[0], x[1]);
  }
  Value cast(mlir::OpBuilder& nb, mlir::Location l, Value v, DType from, DType to);
  // Reductions and contraction
  Value reduce(const Node* n);
  Value zeros(const Node* n);
  Value matmul(const Node* n, Value acc);
  // A batched product shared out over threads by matrices: as much work as a row-split 2-D one.
  static constexpr int64_t kSharedBatchMultiplyAdds = int64_t{1} << 21;
  // Data movement
  Value reshape(Value v, const Shape& from, const Shape& to, mlir::Location l);
  Value slice(const Node* n);
  Value concat(const Node* n);
  static constexpr size_t kConcatByLeadingIndexBytes = size_t{1} << 20;
  Value concat_parts(mlir::OpBuilder& b, const Node* n, Value out, Value row);
  Value pad(const Node* n);
  Value reverse(const Node* n);
  Value row_index(mlir::OpBuilder& nb, mlir::Location l, Value id, int64_t rows);
  Value gather(const Node* n);
  Value scatter_add(const Node* n);

  // ---- emit_fusions.cpp ----
  void plan(const Function& fn, const std::vector<const Node*>& order);
  void plan_bias_products(const std::vector<const Node*>& order, std::unordered_map<const Node*, int>& uses,
                          const Readers& readers);
  Value bias_product(const Node* add, std::pair<const Node*, const Node*> product_and_bias);
  Value add_into_window(const Node* n);
  static const Node* window_term(const Node* add);
  static bool is_zero_pad_of(const Node* pad, const Shape& shape);
  static const Node* other_operand(const Node* add, const Node* operand);
  Value add_window(mlir::OpBuilder& b, mlir::Location l, Value acc, Value g, const Node* pad);
  void plan_window_sums(const std::vector<const Node*>& order, std::unordered_map<const Node*, int>& uses);
  static constexpr size_t kWindowSumByImageBytes = size_t{1} << 20;
  static constexpr size_t kWindowSumImageMaxBytes = size_t{1} << 20;  // beyond, L1 is lost anyway
  Value window_sum_by_image(const Node* n, const std::vector<const Node*>& terms);

  // ---- emit_control_flow.cpp ----
  Value scan(const Node* n);
  Value while_loop(const Node* n);
  Value cond(const Node* n);
  Value scan_body(const Node* n, Value carry, Value t);
  Value emit_body(const Function& body, llvm::ArrayRef<Value> args, size_t k);
  // Slice t along axis 0 of a value of `type`: offsets, sizes and strides.
  struct Window {
    llvm::SmallVector<mlir::OpFoldResult> offsets, sizes, strides;
  };
  Window step_window(mlir::RankedTensorType type, Value t);
  Value step_slice(Value xs, Value t, mlir::Location l);
  Value insert_step(Value value, Value stack, Value t, mlir::Location l);

  mlir::MLIRContext& ctx_;
  mlir::OpBuilder b_;
  std::unordered_map<const Node*, Value> values_;
  // plan_bias_products: each fused add's product and bias, and the products it emits.
  std::unordered_map<const Node*, std::pair<const Node*, const Node*>> bias_products_;
  std::unordered_set<const Node*> folded_products_;
  // plan_window_sums: each sum computed by image (its terms, innermost first), and its inner adds.
  std::unordered_map<const Node*, std::vector<const Node*>> window_sums_;
  std::unordered_set<const Node*> folded_window_adds_;
  std::unordered_set<const Function*> planned_bodies_;  // a loop body is emitted once per result
};

}  // namespace zephyr::compiler
