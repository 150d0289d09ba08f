// The emitter's loops and branches (emitter.h): scan, while and cond, each body emitted inside
// its region, with the carries in buffers the loop updates in place.
#include "emitter.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

namespace zephyr::compiler {

// One scf.for over the steps, the body's graph emitted inside it. The loop carries one buffer
// of carries, not the carry itself: the stack [T, carry...] (the node's value), or for a node
// whose value is the last carry two rows used in turn. Each step reads the row the step before
// wrote and writes its own, so the loop updates that buffer in place (a carry returned as a new
// tensor each step would need an allocation per step). The first step, which reads the initial
// carry instead, runs before the loop: the body is emitted twice, whatever the number of steps.
Value Emitter::scan(const Node* n) {
  const Loop& loop = *n->attrs.loop;
  const mlir::Location l = loc(n);
  const int64_t steps = n->inputs[1]->shape[0];
  auto index = [&](int64_t v) { return Value(b_.create<mlir::arith::ConstantIndexOp>(l, v)); };
  const mlir::RankedTensorType carry_type = tensor_type(n->inputs[0].get());
  Shape rows_shape = carry_type.getShape();
  rows_shape.insert(rows_shape.begin(), loop.stacked ? steps : 2);
  // Where step s writes its carry (in the order the steps run).
  auto row_of = [&](Value s) -> Value {
    if (!loop.stacked) return b_.create<mlir::arith::RemUIOp>(l, s, index(2));
    return loop.reverse ? Value(b_.create<mlir::arith::SubIOp>(l, index(steps - 1), s)) : s;
  };
  auto step_at = [&](Value s, Value carry, Value rows) {  // step s on `carry`, written into `rows`
    const Value t = loop.reverse ? Value(b_.create<mlir::arith::SubIOp>(l, index(steps - 1), s)) : s;
    return insert_step(scan_body(n, carry, t), rows, row_of(s), l);
  };
  Value rows = b_.create<mlir::tensor::EmptyOp>(l, rows_shape, carry_type.getElementType());
  rows = step_at(index(0), in(n, 0), rows);
  auto for_op = b_.create<mlir::scf::ForOp>(
      l, index(1), index(steps), index(1), mlir::ValueRange{rows},
      [&](mlir::OpBuilder& nb, mlir::Location, Value s, mlir::ValueRange iter) {
        mlir::OpBuilder::InsertionGuard guard(b_);
        b_.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
        const Value before = row_of(b_.create<mlir::arith::SubIOp>(l, s, index(1)));
        const Value next = step_at(s, step_slice(iter[0], before, l), iter[0]);
        b_.create<mlir::scf::YieldOp>(l, next);
      });
  rows = for_op.getResult(0);
  return loop.stacked ? rows : step_slice(rows, index((steps - 1) % 2), l);
}

// scf.while over two rows of carries used in turn, as a last-carry scan: the row the last step
// wrote is an iter_arg beside the buffer. The condition and the next carry are the body's two
// results, each emitted in its own region.
Value Emitter::while_loop(const Node* n) {
  const Function& body = n->attrs.loop->body;
  const mlir::Location l = loc(n);
  auto index = [&](int64_t v) { return Value(b_.create<mlir::arith::ConstantIndexOp>(l, v)); };
  const mlir::RankedTensorType carry_type = tensor_type(n);
  Shape rows_shape = carry_type.getShape();
  rows_shape.insert(rows_shape.begin(), 2);
  Value rows = b_.create<mlir::tensor::EmptyOp>(l, rows_shape, carry_type.getElementType());
  rows = insert_step(in(n, 0), rows, index(0), l);
  const mlir::Type index_type = b_.getIndexType();
  auto emit_part = [&](size_t k, Value carry) {  // body result k on `carry` and the captured values
    llvm::SmallVector<Value> args{carry};
    for (size_t j = 1; j < n->inputs.size(); ++j) args.push_back(in(n, j));
    return emit_body(body, args, k);
  };
  auto op = b_.create<mlir::scf::WhileOp>(
      l, mlir::TypeRange{rows.getType(), index_type}, mlir::ValueRange{rows, index(0)},
      [&](mlir::OpBuilder& nb, mlir::Location, mlir::ValueRange args) {
        mlir::OpBuilder::InsertionGuard guard(b_);
        b_.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
        const Value go_on = emit_part(0, step_slice(args[0], args[1], l));
        const Value flag = b_.create<mlir::tensor::ExtractOp>(l, go_on, mlir::ValueRange{});
        b_.create<mlir::scf::ConditionOp>(l, flag, args);
      },
      [&](mlir::OpBuilder& nb, mlir::Location, mlir::ValueRange args) {
        mlir::OpBuilder::InsertionGuard guard(b_);
        b_.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
        const Value next = emit_part(1, step_slice(args[0], args[1], l));
        const Value other = b_.create<mlir::arith::SubIOp>(l, index(1), args[1]);
        b_.create<mlir::scf::YieldOp>(l, mlir::ValueRange{insert_step(next, args[0], other, l), other});
      });
  return step_slice(op.getResult(0), op.getResult(1), l);
}

// scf.if on the predicate, each branch's result emitted in its own region and copied into one
// buffer made before the if. Yielding the branches' own values instead lets the bufferizer
// give them different buffers (a folded constant in one branch, an allocation in the other),
// whose ownership only a dealloc_helper call decides, which our bare-pointer calls cannot make.
Value Emitter::cond(const Node* n) {
  const Function& body = n->attrs.loop->body;
  const mlir::Location l = loc(n);
  const Value pred = b_.create<mlir::tensor::ExtractOp>(l, in(n, 0), mlir::ValueRange{});
  const mlir::RankedTensorType type = tensor_type(n);
  const Value result = b_.create<mlir::tensor::EmptyOp>(l, type.getShape(), type.getElementType());
  auto op = b_.create<mlir::scf::IfOp>(l, mlir::TypeRange{type}, pred, /*withElseRegion=*/true);
  for (size_t k = 0; k < 2; ++k) {
    mlir::OpBuilder::InsertionGuard guard(b_);
    b_.setInsertionPointToStart(k == 0 ? op.thenBlock() : op.elseBlock());
    llvm::SmallVector<Value> args;
    for (size_t j = 1; j < n->inputs.size(); ++j) args.push_back(in(n, j));
    auto copy = b_.create<mlir::linalg::CopyOp>(l, emit_body(body, args, k), result);
    b_.create<mlir::scf::YieldOp>(l, copy.getResult(0));
  }
  return op.getResult(0);
}

// The scan body of `n` on `carry` at step t (slice t of each scanned operand).
Value Emitter::scan_body(const Node* n, Value carry, Value t) {
  const Loop& loop = *n->attrs.loop;
  llvm::SmallVector<Value> args{carry};
  for (size_t i = 1; i <= loop.xs; ++i) args.push_back(step_slice(in(n, i), t, loc(n)));
  for (size_t j = 1 + loop.xs; j < n->inputs.size(); ++j) args.push_back(in(n, j));
  return emit_body(loop.body, args, 0);
}

// Result k of `body` on `args`, emitted where the builder is. The body's values are forgotten
// afterwards: they exist in this region only.
Value Emitter::emit_body(const Function& body, llvm::ArrayRef<Value> args, size_t k) {
  auto outside = values_;
  if (planned_bodies_.insert(&body).second) plan(body, topological_order(body.results));
  for (size_t i = 0; i < args.size(); ++i) values_[body.arguments[i].get()] = args[i];
  for (const Node* b : topological_order({body.results[k]}))
    if (!values_.count(b)) values_[b] = emit(b);
  const Value result = values_.at(body.results[k].get());
  values_ = std::move(outside);
  return result;
}

Emitter::Window Emitter::step_window(mlir::RankedTensorType type, Value t) {
  Window w{{t}, {b_.getIndexAttr(1)}, llvm::SmallVector<mlir::OpFoldResult>(type.getRank(), b_.getIndexAttr(1))};
  for (int64_t d = 1; d < type.getRank(); ++d) {
    w.offsets.push_back(b_.getIndexAttr(0));
    w.sizes.push_back(b_.getIndexAttr(type.getDimSize(d)));
  }
  return w;
}

// Slice t of `xs` along axis 0, without that axis.
Value Emitter::step_slice(Value xs, Value t, mlir::Location l) {
  auto type = mlir::cast<mlir::RankedTensorType>(xs.getType());
  const Window w = step_window(type, t);
  auto step_type = mlir::RankedTensorType::get(type.getShape().drop_front(), type.getElementType());
  return b_.create<mlir::tensor::ExtractSliceOp>(l, step_type, xs, w.offsets, w.sizes, w.strides);
}

// `value` written as slice t of `stack` along axis 0.
Value Emitter::insert_step(Value value, Value stack, Value t, mlir::Location l) {
  const Window w = step_window(mlir::cast<mlir::RankedTensorType>(stack.getType()), t);
  return b_.create<mlir::tensor::InsertSliceOp>(l, value, stack, w.offsets, w.sizes, w.strides);
}

}  // namespace zephyr::compiler
