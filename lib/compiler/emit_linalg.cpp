// Graph -> MLIR: one func on tensors, each primitive op as linalg/tensor/arith/math.
// The cases below follow the groups of include/zephyr/op_kinds.def. Both switches name every
// op and have no default: the build uses -Werror=switch, so an op added to op_kinds.def without
// a lowering here does not compile (its other rules live in lib/primitives/).
#include <fmt/format.h>

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Verifier.h"
#include "emitter.h"
#include "forall_slices.h"
#include "mlir_internal.h"

namespace zephyr::compiler {

void Emitter::emit(const Function& fn) {
  llvm::SmallVector<mlir::Type> args, results;
  for (const NodePtr& a : fn.arguments) args.push_back(tensor_type(a.get()));
  for (const NodePtr& r : fn.results) results.push_back(tensor_type(r.get()));
  auto func = b_.create<mlir::func::FuncOp>(b_.getUnknownLoc(), fn.name, b_.getFunctionType(args, results));
  mlir::Block* entry = func.addEntryBlock();
  for (size_t i = 0; i < fn.arguments.size(); ++i) {
    values_[fn.arguments[i].get()] = entry->getArgument(i);
    entry->getArgument(i).setLoc(loc(fn.arguments[i].get()));  // where the parameter was declared
    func.setArgAttr(i, "zephyr.name", b_.getStringAttr(fn.arguments[i]->attrs.name));
    // Compiled code never writes its inputs (the caller's Arrays): an in-place update of an
    // argument (a + pad(g) into a) gets a copy from bufferization instead.
    func.setArgAttr(i, "bufferization.writable", b_.getBoolAttr(false));
  }
  b_.setInsertionPointToStart(entry);
  const std::vector<const Node*> order = topological_order(fn.results);
  plan(fn, order);
  for (const Node* n : order)
    if (!values_.count(n)) values_[n] = emit(n);
  // Results that alias arguments or each other get their own buffers after bufferization
  // (pipeline.cpp: separate_returned_buffers).
  llvm::SmallVector<Value> outs;
  for (const NodePtr& r : fn.results) outs.push_back(values_.at(r.get()));
  b_.create<mlir::func::ReturnOp>(b_.getUnknownLoc(), outs);
}

mlir::Type Emitter::element(DType d) {
  switch (d) {
    case DType::f32: return b_.getF32Type();
    case DType::f64: return b_.getF64Type();
    case DType::i32: return b_.getI32Type();
    case DType::bool_: return b_.getI1Type();
    case DType::bf16: return b_.getBF16Type();
    case DType::f16: return b_.getF16Type();
    case DType::i64: return b_.getI64Type();
    case DType::u8: case DType::i8: return b_.getIntegerType(8);  // signless: the ops say unsigned
  }
  return {};
}

mlir::Location Emitter::loc(const Node* n) {
  if (!n->loc.line) return b_.getUnknownLoc();
  return mlir::FileLineColLoc::get(&ctx_, n->loc.file, n->loc.line, n->loc.column);
}

Value Emitter::emit(const Node* n) {
  // A product (or its reshape) emitted by its add; an add of a window sum emitted by its last.
  if (folded_products_.count(n) || folded_window_adds_.count(n)) return {};
  if (n->op == OpKind::Add) {
    if (auto fused = bias_products_.find(n); fused != bias_products_.end()) return bias_product(n, fused->second);
    if (auto sum = window_sums_.find(n); sum != window_sums_.end()) return window_sum_by_image(n, sum->second);
    if (Value v = add_into_window(n)) return v;
  }
  switch (n->op) {
    case OpKind::Argument:
      throw Error(fmt::format("[compile] '{}' is used by the function but is not one of its arguments", n->attrs.name));
    case OpKind::Constant: return constant(n);
    case OpKind::Iota: return iota(n);
    case OpKind::Neg: case OpKind::Abs: case OpKind::Exp: case OpKind::Log: case OpKind::Tanh:
    case OpKind::Sqrt: case OpKind::Rsqrt: case OpKind::Sin: case OpKind::Cos:
    case OpKind::Add: case OpKind::Sub: case OpKind::Mul: case OpKind::Div: case OpKind::Pow:
    case OpKind::Maximum: case OpKind::Minimum:
    case OpKind::BitXor: case OpKind::BitOr: case OpKind::ShiftLeft: case OpKind::ShiftRightLogical:
    case OpKind::Equal: case OpKind::NotEqual: case OpKind::Less: case OpKind::LessEqual:
    case OpKind::Greater: case OpKind::GreaterEqual:
    case OpKind::Select: case OpKind::Cast: case OpKind::StopGradient: case OpKind::BroadcastTo:
      return elementwise(n);
    case OpKind::ReduceSum: case OpKind::ReduceMax: return reduce(n);
    case OpKind::MatMul: return matmul(n, zeros(n));
    case OpKind::Reshape: return reshape(in(n, 0), n->inputs[0]->shape, n->shape, loc(n));
    case OpKind::Transpose:
      return b_.create<mlir::linalg::TransposeOp>(loc(n), in(n, 0), empty(n), n->attrs.axes).getResult()[0];
    case OpKind::Slice: return slice(n);
    case OpKind::Concat: return concat(n);
    case OpKind::Pad: return pad(n);
    case OpKind::Reverse: return reverse(n);
    case OpKind::Gather: return gather(n);
    case OpKind::ScatterAdd: return scatter_add(n);
    case OpKind::CustomVjp: return in(n, n->inputs.size() - 1);  // the function's own result
    case OpKind::After: return in(n, 0);  // the kernel's reading operand 1 is the ordering
    case OpKind::Scan: return scan(n);
    case OpKind::While: return while_loop(n);
    case OpKind::Cond: return cond(n);
  }
  throw Error(fmt::format("[compile] no lowering for op '{}'", mnemonic(n->op)));
}

mlir::Attribute Emitter::scalar_attr(DType d, double v) {
  switch (d) {
    case DType::f32: return b_.getF32FloatAttr(static_cast<float>(v));
    case DType::f64: return b_.getF64FloatAttr(v);
    case DType::i32: return b_.getI32IntegerAttr(static_cast<int32_t>(v));
    case DType::bool_: return b_.getBoolAttr(v != 0);
    case DType::bf16: case DType::f16: {
      // The value as its Array stores it: the same rounding as everywhere else.
      Array one({}, d);
      one.set(0, v);
      return b_.getFloatAttr(element(d), one.at(0));
    }
    case DType::i64: return b_.getI64IntegerAttr(static_cast<int64_t>(v));
    case DType::u8: case DType::i8:  // two's complement in 8 bits
      return b_.getIntegerAttr(element(d), static_cast<int8_t>(static_cast<uint8_t>(static_cast<int64_t>(v))));
  }
  return {};
}

Value Emitter::constant(const Node* n) {
  auto type = tensor_type(n);
  const Array& v = n->attrs.value;
  mlir::DenseElementsAttr attr;
  if (v.size() == 1) {
    attr = mlir::DenseElementsAttr::get(type, scalar_attr(n->dtype, v.at(0)));
  } else {
    switch (n->dtype) {
      case DType::f32: attr = mlir::DenseElementsAttr::get(type, llvm::ArrayRef<float>(v.data<float>(), v.size())); break;
      case DType::f64: attr = mlir::DenseElementsAttr::get(type, llvm::ArrayRef<double>(v.data<double>(), v.size())); break;
      case DType::i32: attr = mlir::DenseElementsAttr::get(type, llvm::ArrayRef<int32_t>(v.data<int32_t>(), v.size())); break;
      case DType::bool_: attr = mlir::DenseElementsAttr::get(type, llvm::ArrayRef<bool>(v.data<bool>(), v.size())); break;
      // Little-endian bytes, as MLIR's dense storage holds these types.
      case DType::bf16: case DType::f16: case DType::i64: case DType::u8: case DType::i8:
        attr = mlir::DenseElementsAttr::getFromRawBuffer(
            type, llvm::ArrayRef<char>(static_cast<const char*>(v.raw()), v.nbytes()));
        break;
    }
  }
  return b_.create<mlir::arith::ConstantOp>(loc(n), type, attr);
}

Value Emitter::iota(const Node* n) {
  int64_t rank = static_cast<int64_t>(n->shape.size());
  auto map = b_.getMultiDimIdentityMap(rank);
  llvm::SmallVector<mlir::utils::IteratorType> iters(rank, mlir::utils::IteratorType::parallel);
  int64_t axis = n->attrs.axis;
  DType dtype = n->dtype;
  auto op = b_.create<mlir::linalg::GenericOp>(
      loc(n), mlir::TypeRange{tensor_type(n)}, mlir::ValueRange{}, mlir::ValueRange{empty(n)},
      llvm::ArrayRef<mlir::AffineMap>{map}, iters, [&](mlir::OpBuilder& nb, mlir::Location l, mlir::ValueRange) {
        Value index = nb.create<mlir::linalg::IndexOp>(l, axis);
        Value i = nb.create<mlir::arith::IndexCastOp>(l, nb.getI64Type(), index);
        Value out = dtype == DType::i64 ? i
                    : !is_float(dtype)  ? Value(nb.create<mlir::arith::TruncIOp>(l, element(dtype), i))
                    : is_low_precision(dtype)
                        ? Value(nb.create<mlir::arith::TruncFOp>(
                              l, element(dtype), nb.create<mlir::arith::SIToFPOp>(l, nb.getF32Type(), i)))
                        : Value(nb.create<mlir::arith::SIToFPOp>(l, element(dtype), i));
        nb.create<mlir::linalg::YieldOp>(l, out);
      });
  return op.getResult(0);
}

// Broadcast operands drop their size-1 (and missing) axes through collapse_shape, so every
// indexing map is a projected permutation: the form fusion and vectorization expect.
std::pair<Value, mlir::AffineMap> Emitter::broadcast_operand(Value v, const Shape& shape, const Shape& out, mlir::Location l) {
  size_t offset = out.size() - shape.size();
  llvm::SmallVector<mlir::AffineExpr> exprs;
  Shape kept_shape;
  llvm::SmallVector<mlir::ReassociationIndices> groups;
  mlir::ReassociationIndices pending;
  for (size_t i = 0; i < shape.size(); ++i) {
    pending.push_back(static_cast<int64_t>(i));
    bool stretched = shape[i] == 1 && out[i + offset] != 1;
    if (stretched) continue;
    exprs.push_back(b_.getAffineDimExpr(static_cast<unsigned>(i + offset)));
    kept_shape.push_back(shape[i]);
    groups.push_back(pending);
    pending.clear();
  }
  if (!pending.empty() && !groups.empty()) groups.back().append(pending.begin(), pending.end());
  if (kept_shape.size() != shape.size()) {
    auto type = mlir::RankedTensorType::get(kept_shape, mlir::cast<mlir::RankedTensorType>(v.getType()).getElementType());
    if (kept_shape.empty()) groups.clear();
    v = b_.create<mlir::tensor::CollapseShapeOp>(l, type, v, groups);
  }
  return {v, mlir::AffineMap::get(static_cast<unsigned>(out.size()), 0, exprs, &ctx_)};
}

Value Emitter::elementwise(const Node* n) {
  mlir::Location l = loc(n);
  llvm::SmallVector<Value> operands;
  llvm::SmallVector<mlir::AffineMap> maps;
  for (size_t i = 0; i < n->inputs.size(); ++i) {
    auto [v, map] = broadcast_operand(in(n, i), n->inputs[i]->shape, n->shape, l);
    operands.push_back(v);
    maps.push_back(map);
  }
  maps.push_back(b_.getMultiDimIdentityMap(static_cast<unsigned>(n->shape.size())));
  llvm::SmallVector<mlir::utils::IteratorType> iters(n->shape.size(), mlir::utils::IteratorType::parallel);
  auto op = b_.create<mlir::linalg::GenericOp>(
      l, mlir::TypeRange{tensor_type(n)}, operands, mlir::ValueRange{empty(n)}, maps, iters,
      [&](mlir::OpBuilder& nb, mlir::Location bl, mlir::ValueRange args) {
        nb.create<mlir::linalg::YieldOp>(bl, scalar_op(nb, bl, n, args.drop_back()));
      });
  return op.getResult(0);
}

// The scalar computation of one elementwise op.
Value Emitter::scalar_op(mlir::OpBuilder& nb, mlir::Location l, const Node* n, mlir::ValueRange x) {
  namespace arith = mlir::arith;
  namespace math = mlir::math;
  DType in_type = n->inputs.empty() ? n->dtype : n->inputs[0]->dtype;
  bool f = is_float(in_type), u = is_unsigned(in_type);
  switch (n->op) {
    case OpKind::BroadcastTo: return x[0];
    case OpKind::Neg:
      if (f) return nb.create<arith::NegFOp>(l, x[0]);
      return nb.create<arith::SubIOp>(l, nb.create<arith::ConstantOp>(l, nb.getZeroAttr(x[0].getType())), x[0]);
    case OpKind::Abs:
      if (f) return nb.create<math::AbsFOp>(l, x[0]);
      if (u) return x[0];
      return nb.create<math::AbsIOp>(l, x[0]);
    case OpKind::Exp: return nb.create<math::ExpOp>(l, x[0]);
    case OpKind::Log: return nb.create<math::LogOp>(l, x[0]);
    case OpKind::Tanh: return nb.create<math::TanhOp>(l, x[0]);
    case OpKind::Sqrt: return nb.create<math::SqrtOp>(l, x[0]);
    case OpKind::Rsqrt: return nb.create<math::RsqrtOp>(l, x[0]);
    case OpKind::Sin: return nb.create<math::SinOp>(l, x[0]);
    case OpKind::Cos: return nb.create<math::CosOp>(l, x[0]);
    case OpKind::Add: return f ? Value(nb.create<arith::AddFOp>(l, x[0], x[1])) : nb.create<arith::AddIOp>(l, x[0], x[1]);
    case OpKind::Sub: return f ? Value(nb.create<arith::SubFOp>(l, x[0], x[1])) : nb.create<arith::SubIOp>(l, x[0], x[1]);
    case OpKind::Mul: return f ? Value(nb.create<arith::MulFOp>(l, x[0], x[1])) : nb.create<arith::MulIOp>(l, x[0], x[1]);
    case OpKind::Div:
      if (f) return nb.create<arith::DivFOp>(l, x[0], x[1]);
      return integer_divide(nb, l, u, x[0], x[1]);
    case OpKind::Pow: return nb.create<math::PowFOp>(l, x[0], x[1]);
    case OpKind::Maximum:
      if (f) return nb.create<arith::MaximumFOp>(l, x[0], x[1]);
      return u ? Value(nb.create<arith::MaxUIOp>(l, x[0], x[1])) : nb.create<arith::MaxSIOp>(l, x[0], x[1]);
    case OpKind::Minimum:
      if (f) return nb.create<arith::MinimumFOp>(l, x[0], x[1]);
      return u ? Value(nb.create<arith::MinUIOp>(l, x[0], x[1])) : nb.create<arith::MinSIOp>(l, x[0], x[1]);
    case OpKind::BitXor: return nb.create<arith::XOrIOp>(l, x[0], x[1]);
    case OpKind::BitOr: return nb.create<arith::OrIOp>(l, x[0], x[1]);
    case OpKind::ShiftLeft: return nb.create<arith::ShLIOp>(l, x[0], x[1]);
    case OpKind::ShiftRightLogical: return nb.create<arith::ShRUIOp>(l, x[0], x[1]);
    case OpKind::Equal: return compare(nb, l, f, arith::CmpFPredicate::OEQ, arith::CmpIPredicate::eq, x);
    case OpKind::NotEqual: return compare(nb, l, f, arith::CmpFPredicate::UNE, arith::CmpIPredicate::ne, x);
    case OpKind::Less: return compare(nb, l, f, arith::CmpFPredicate::OLT, u ? arith::CmpIPredicate::ult : arith::CmpIPredicate::slt, x);
    case OpKind::LessEqual: return compare(nb, l, f, arith::CmpFPredicate::OLE, u ? arith::CmpIPredicate::ule : arith::CmpIPredicate::sle, x);
    case OpKind::Greater: return compare(nb, l, f, arith::CmpFPredicate::OGT, u ? arith::CmpIPredicate::ugt : arith::CmpIPredicate::sgt, x);
    case OpKind::GreaterEqual: return compare(nb, l, f, arith::CmpFPredicate::OGE, u ? arith::CmpIPredicate::uge : arith::CmpIPredicate::sge, x);
    case OpKind::Select: return nb.create<arith::SelectOp>(l, x[0], x[1], x[2]);
    case OpKind::Cast: return cast(nb, l, x[0], in_type, n->dtype);
    case OpKind::StopGradient: return x[0];
    // Not elementwise (primitive(op).elementwise is false): lowered by emit() above. Listed
    // so that the switch stays exhaustive, and a new op without a lowering fails the build.
    case OpKind::Argument: case OpKind::Constant: case OpKind::Iota:
    case OpKind::ReduceSum: case OpKind::ReduceMax: case OpKind::MatMul:
    case OpKind::Reshape: case OpKind::Transpose: case OpKind::Slice: case OpKind::Concat:
    case OpKind::Pad: case OpKind::Reverse: case OpKind::Gather: case OpKind::ScatterAdd:
    case OpKind::CustomVjp: case OpKind::After: case OpKind::Scan: case OpKind::While: case OpKind::Cond:
      break;
  }
  throw Error(fmt::format("[compile] '{}' is not elementwise", mnemonic(n->op)));
}

// Toward zero, as numpy's C division; x / 0 is 0 and MIN / -1 wraps to MIN, where the bare
// instruction would trap (SIGFPE) and take the user's process with it.
Value Emitter::integer_divide(mlir::OpBuilder& nb, mlir::Location l, bool is_unsigned, Value a, Value b) {
  namespace arith = mlir::arith;
  auto constant = [&](int64_t v) { return nb.create<arith::ConstantOp>(l, nb.getIntegerAttr(a.getType(), v)).getResult(); };
  Value zero = constant(0), one = constant(1);
  Value by_zero = nb.create<arith::CmpIOp>(l, arith::CmpIPredicate::eq, b, zero);
  Value bad = by_zero;
  if (!is_unsigned) {
    const unsigned width = a.getType().getIntOrFloatBitWidth();
    Value min = nb.create<arith::ConstantOp>(l, nb.getIntegerAttr(a.getType(), llvm::APInt::getSignedMinValue(width)));
    Value overflows = nb.create<arith::AndIOp>(l, nb.create<arith::CmpIOp>(l, arith::CmpIPredicate::eq, a, min),
                                               nb.create<arith::CmpIOp>(l, arith::CmpIPredicate::eq, b, constant(-1)));
    bad = nb.create<arith::OrIOp>(l, by_zero, overflows);
  }
  Value divisor = nb.create<arith::SelectOp>(l, bad, one, b);
  Value q = is_unsigned ? Value(nb.create<arith::DivUIOp>(l, a, divisor)) : nb.create<arith::DivSIOp>(l, a, divisor);
  return nb.create<arith::SelectOp>(l, by_zero, zero, q);
}

Value Emitter::cast(mlir::OpBuilder& nb, mlir::Location l, Value v, DType from, DType to) {
  namespace arith = mlir::arith;
  mlir::Type t = element(to);
  if (to == DType::bool_) {
    Value zero = nb.create<arith::ConstantOp>(l, nb.getZeroAttr(v.getType()));
    if (is_float(from)) return nb.create<arith::CmpFOp>(l, arith::CmpFPredicate::UNE, v, zero);
    return nb.create<arith::CmpIOp>(l, arith::CmpIPredicate::ne, v, zero);
  }
  auto bits = [](mlir::Type type) { return type.getIntOrFloatBitWidth(); };
  auto widen = [&](Value x) {  // a 16-bit float to f32, else unchanged
    return is_low_precision(from) ? Value(nb.create<arith::ExtFOp>(l, nb.getF32Type(), x)) : x;
  };
  if (is_float(from) && is_float(to)) {
    if (from == to) return v;
    if (is_low_precision(from) && to != DType::f32)  // from 16 bits: widen to f32 first
      return cast(nb, l, nb.create<arith::ExtFOp>(l, nb.getF32Type(), v), DType::f32, to);
    // Between the 16-bit formats, and from f64 to them, through f32 (as the interpreter rounds).
    if (is_low_precision(to) && from != DType::f32)
      return nb.create<arith::TruncFOp>(l, t, cast(nb, l, v, from, DType::f32));
    return bits(t) > bits(v.getType()) ? Value(nb.create<arith::ExtFOp>(l, t, v)) : nb.create<arith::TruncFOp>(l, t, v);
  }
  if (is_float(from)) {
    // Toward zero, then wrapped to the width: narrow integers go through i32, as numpy's
    // conversions do on x86 (a float out of i32's range has no defined conversion).
    if (bits(t) >= 32) return nb.create<arith::FPToSIOp>(l, t, widen(v));
    return nb.create<arith::TruncIOp>(l, t, nb.create<arith::FPToSIOp>(l, nb.getI32Type(), widen(v)));
  }
  const bool unsigned_from = from == DType::bool_ || is_unsigned(from);
  if (is_float(to)) {
    mlir::Type wide = is_low_precision(to) ? mlir::Type(nb.getF32Type()) : t;
    Value x = unsigned_from ? Value(nb.create<arith::UIToFPOp>(l, wide, v)) : nb.create<arith::SIToFPOp>(l, wide, v);
    return is_low_precision(to) ? Value(nb.create<arith::TruncFOp>(l, t, x)) : x;
  }
  if (bits(t) == bits(v.getType())) return v;  // u8 <-> i8: the same bits
  if (bits(t) < bits(v.getType())) return nb.create<arith::TruncIOp>(l, t, v);
  return unsigned_from ? Value(nb.create<arith::ExtUIOp>(l, t, v)) : nb.create<arith::ExtSIOp>(l, t, v);
}

Value Emitter::reduce(const Node* n) {
  mlir::Location l = loc(n);
  const Shape& in_shape = n->inputs[0]->shape;
  unsigned rank = static_cast<unsigned>(in_shape.size());
  llvm::SmallVector<mlir::AffineExpr> out_exprs;
  llvm::SmallVector<mlir::utils::IteratorType> iters;
  const auto& axes = n->attrs.axes;
  for (unsigned i = 0; i < rank; ++i) {
    bool reduced = std::find(axes.begin(), axes.end(), static_cast<int64_t>(i)) != axes.end();
    iters.push_back(reduced ? mlir::utils::IteratorType::reduction : mlir::utils::IteratorType::parallel);
    if (!reduced) out_exprs.push_back(b_.getAffineDimExpr(i));
  }
  bool is_sum = n->op == OpKind::ReduceSum;
  bool f = is_float(n->dtype);
  mlir::Attribute init_attr;
  if (is_sum) init_attr = b_.getZeroAttr(element(n->dtype));
  else if (f) init_attr = b_.getFloatAttr(element(n->dtype), -std::numeric_limits<double>::infinity());
  else init_attr = scalar_attr(n->dtype, is_unsigned(n->dtype) ? 0.0 : -std::ldexp(1.0, 8 * static_cast<int>(itemsize(n->dtype)) - 1));
  Value init_value = b_.create<mlir::arith::ConstantOp>(l, mlir::cast<mlir::TypedAttr>(init_attr));
  Value init = b_.create<mlir::linalg::FillOp>(l, init_value, empty(n)).getResult(0);
  const auto reassociate = mlir::arith::FastMathFlagsAttr::get(&ctx_, mlir::arith::FastMathFlags::reassoc);
  llvm::SmallVector<mlir::AffineMap> maps{b_.getMultiDimIdentityMap(rank),
                                          mlir::AffineMap::get(rank, 0, out_exprs, &ctx_)};
  auto op = b_.create<mlir::linalg::GenericOp>(
      l, mlir::TypeRange{tensor_type(n)}, mlir::ValueRange{in(n, 0)}, mlir::ValueRange{init}, maps, iters,
      [&](mlir::OpBuilder& nb, mlir::Location bl, mlir::ValueRange args) {
        Value r;
        // reassoc: LLVM may then sum a row in vector lanes (16 partial sums) instead of one
        // addition after another, each waiting for the last (4 cycles apart).
        if (is_sum) r = f ? Value(nb.create<mlir::arith::AddFOp>(bl, args[0], args[1], reassociate))
                          : nb.create<mlir::arith::AddIOp>(bl, args[0], args[1]);
        else r = f ? Value(nb.create<mlir::arith::MaximumFOp>(bl, args[0], args[1]))
                   : is_unsigned(n->dtype) ? Value(nb.create<mlir::arith::MaxUIOp>(bl, args[0], args[1]))
                                           : nb.create<mlir::arith::MaxSIOp>(bl, args[0], args[1]);
        nb.create<mlir::linalg::YieldOp>(bl, r);
      });
  return op.getResult(0);
}

Value Emitter::zeros(const Node* n) {
  Value zero = b_.create<mlir::arith::ConstantOp>(loc(n), mlir::cast<mlir::TypedAttr>(b_.getZeroAttr(element(n->dtype))));
  return b_.create<mlir::linalg::FillOp>(loc(n), zero, empty(n)).getResult(0);
}

// The product of `n`'s operands accumulated into `acc`.
Value Emitter::matmul(const Node* n, Value acc) {
  mlir::Location l = loc(n);
  if (n->shape.size() == 2)
    return b_.create<mlir::linalg::MatmulOp>(l, mlir::TypeRange{tensor_type(n)}, mlir::ValueRange{in(n, 0), in(n, 1)},
                                             mlir::ValueRange{acc}).getResult(0);
  // Batched: a loop of 2-D matmuls, so each one is tiled and vectorized like any other
  // (the transform script only knows linalg.matmul). With enough work, the loop is an scf.forall
  // whose matrices are shared out over the threads (a loop again on one thread, pipeline.cpp):
  // flash attention's loops over key blocks are a batch of heads' products per step, which ran on
  // one thread while the row split shares out only 2-D products. Each matrix is computed as on one
  // thread, so the bits are the same.
  const Shape& sa = n->inputs[0]->shape;
  const Shape& sb = n->inputs[1]->shape;
  int64_t batch = n->shape[0], m = n->shape[1], k = sa[2], cols = sb[2];
  mlir::Type elt = element(n->dtype);
  // Matrix i of `source` (batch, rows, columns), as a slice and where it lies.
  auto matrix = [&](mlir::OpBuilder& nb, mlir::Location bl, Value i, Value source, int64_t rows, int64_t columns) {
    SliceFill x{Value(), {i, nb.getIndexAttr(0), nb.getIndexAttr(0)},
                {nb.getIndexAttr(1), nb.getIndexAttr(rows), nb.getIndexAttr(columns)},
                llvm::SmallVector<mlir::OpFoldResult>(3, nb.getIndexAttr(1))};
    x.value = nb.create<mlir::tensor::ExtractSliceOp>(bl, mlir::RankedTensorType::get({rows, columns}, elt), source,
                                                      x.offsets, x.sizes, x.strides);
    return x;
  };
  // Product i accumulated into its matrix of `out`, and where it goes.
  auto product = [&](mlir::OpBuilder& nb, mlir::Location bl, Value i, Value out) {
    SliceFill o = matrix(nb, bl, i, out, m, cols);
    o.value = nb.create<mlir::linalg::MatmulOp>(bl, mlir::TypeRange{o.value.getType()},
                                                mlir::ValueRange{matrix(nb, bl, i, in(n, 0), m, k).value,
                                                                 matrix(nb, bl, i, in(n, 1), k, cols).value},
                                                mlir::ValueRange{o.value}).getResult(0);
    return o;
  };
  if (batch >= 2 && batch * m * k * cols >= kSharedBatchMultiplyAdds) return forall_filling_slices(b_, l, batch, acc, product);
  Value lb = b_.create<mlir::arith::ConstantIndexOp>(l, 0);
  Value ub = b_.create<mlir::arith::ConstantIndexOp>(l, batch);
  Value step = b_.create<mlir::arith::ConstantIndexOp>(l, 1);
  auto loop = b_.create<mlir::scf::ForOp>(
      l, lb, ub, step, mlir::ValueRange{acc}, [&](mlir::OpBuilder& nb, mlir::Location bl, Value i, mlir::ValueRange iter) {
        const SliceFill c = product(nb, bl, i, iter[0]);
        nb.create<mlir::scf::YieldOp>(
            bl, nb.create<mlir::tensor::InsertSliceOp>(bl, c.value, iter[0], c.offsets, c.sizes, c.strides).getResult());
      });
  return loop.getResult(0);
}

// Any reshape is a collapse to 1-D followed by an expand: both are free views after bufferization.
Value Emitter::reshape(Value v, const Shape& from, const Shape& to, mlir::Location l) {
  if (from == to) return v;
  mlir::Type elt = mlir::cast<mlir::RankedTensorType>(v.getType()).getElementType();
  auto all = [](size_t rank) {
    mlir::ReassociationIndices g;
    for (size_t i = 0; i < rank; ++i) g.push_back(static_cast<int64_t>(i));
    return llvm::SmallVector<mlir::ReassociationIndices>{g};
  };
  int64_t count = numel(from);
  auto flat_type = mlir::RankedTensorType::get({count}, elt);
  Value flat = v;
  if (from.empty()) flat = b_.create<mlir::tensor::ExpandShapeOp>(l, flat_type, v, llvm::ArrayRef<mlir::ReassociationIndices>{});
  else if (from.size() != 1) flat = b_.create<mlir::tensor::CollapseShapeOp>(l, flat_type, v, all(from.size()));
  auto to_type = mlir::RankedTensorType::get(to, elt);
  if (to.size() == 1) return flat;
  if (to.empty()) return b_.create<mlir::tensor::CollapseShapeOp>(l, to_type, flat, llvm::ArrayRef<mlir::ReassociationIndices>{});
  return b_.create<mlir::tensor::ExpandShapeOp>(l, to_type, flat, all(to.size()));
}

Value Emitter::slice(const Node* n) {
  llvm::SmallVector<mlir::OpFoldResult> offsets, sizes, strides;
  for (size_t i = 0; i < n->shape.size(); ++i) {
    offsets.push_back(b_.getIndexAttr(n->attrs.starts[i]));
    sizes.push_back(b_.getIndexAttr(n->shape[i]));
    strides.push_back(b_.getIndexAttr(n->attrs.strides[i]));
  }
  return b_.create<mlir::tensor::ExtractSliceOp>(loc(n), tensor_type(n), in(n, 0), offsets, sizes, strides);
}

// Each input copied into its part of the result along the axis. A large concat along a later
// axis (a convolution's im2col: 9 windows of 32 channels into rows of 288) runs one index of
// axis 0 at a time: each image's rows are then written whole while in cache, where copying each
// input over the whole result wrote 128 bytes of every 1152-byte row per pass, 9 passes over
// 14 MB. The images are an scf.forall: on several threads they are shared out (a copy on one
// thread ran at half speed while the other thread's OpenMP worker waited), on one it becomes a
// loop (pipeline.cpp).
Value Emitter::concat(const Node* n) {
  const bool by_leading_index = n->attrs.axis != 0 && n->shape.size() >= 2 && n->shape[0] > 1 &&
                                nbytes(n->shape, n->dtype) >= kConcatByLeadingIndexBytes;
  if (!by_leading_index) return concat_parts(b_, n, empty(n), {});
  mlir::Location l = loc(n);
  return forall_filling_slices(b_, l, n->shape[0], empty(n), [&](mlir::OpBuilder& nb, mlir::Location, Value i, Value out) {
    SliceFill image{Value(), {i}, {nb.getIndexAttr(1)}, {}};
    for (size_t d = 1; d < n->shape.size(); ++d) {
      image.offsets.push_back(nb.getIndexAttr(0));
      image.sizes.push_back(nb.getIndexAttr(n->shape[d]));
    }
    image.strides.assign(n->shape.size(), nb.getIndexAttr(1));
    image.value = concat_parts(nb, n, nb.create<mlir::tensor::ExtractSliceOp>(l, out, image.offsets, image.sizes, image.strides), i);
    return image;
  });
}

// The inputs inserted into `out`; with `row`, only that index of axis 0 of each, into `out`
// holding that index alone.
Value Emitter::concat_parts(mlir::OpBuilder& b, const Node* n, Value out, Value row) {
  int64_t offset = 0;
  for (size_t k = 0; k < n->inputs.size(); ++k) {
    const Shape& s = n->inputs[k]->shape;
    llvm::SmallVector<mlir::OpFoldResult> from, offsets, sizes, strides;
    for (size_t i = 0; i < s.size(); ++i) {
      const bool leading = i == 0 && row;
      from.push_back(leading ? mlir::OpFoldResult(row) : b.getIndexAttr(0));
      offsets.push_back(b.getIndexAttr(static_cast<int64_t>(i) == n->attrs.axis ? offset : 0));
      sizes.push_back(b.getIndexAttr(leading ? 1 : s[i]));
      strides.push_back(b.getIndexAttr(1));
    }
    Value part = in(n, k);
    if (row) part = b.create<mlir::tensor::ExtractSliceOp>(loc(n), part, from, sizes, strides);
    out = b.create<mlir::tensor::InsertSliceOp>(loc(n), part, out, offsets, sizes, strides);
    offset += s[n->attrs.axis];
  }
  return out;
}

// A fill of the pad value with the input inserted at stride interior + 1.
Value Emitter::pad(const Node* n) {
  mlir::Location l = loc(n);
  Value fill = b_.create<mlir::arith::ConstantOp>(
      l, mlir::cast<mlir::TypedAttr>(scalar_attr(n->dtype, n->attrs.value.at(0))));
  Value out = b_.create<mlir::linalg::FillOp>(l, fill, empty(n)).getResult(0);
  llvm::SmallVector<mlir::OpFoldResult> offsets, sizes, strides;
  const Shape& s = n->inputs[0]->shape;
  for (size_t i = 0; i < s.size(); ++i) {
    offsets.push_back(b_.getIndexAttr(n->attrs.low[i]));
    sizes.push_back(b_.getIndexAttr(s[i]));
    strides.push_back(b_.getIndexAttr(n->attrs.interior[i] + 1));
  }
  return b_.create<mlir::tensor::InsertSliceOp>(l, in(n, 0), out, offsets, sizes, strides);
}

// out[i] = in[extent - 1 - i] on the reversed axes: an affine read map, no index arithmetic.
Value Emitter::reverse(const Node* n) {
  unsigned rank = static_cast<unsigned>(n->shape.size());
  llvm::SmallVector<mlir::AffineExpr> exprs;
  for (unsigned i = 0; i < rank; ++i) {
    bool flipped = std::find(n->attrs.axes.begin(), n->attrs.axes.end(), static_cast<int64_t>(i)) != n->attrs.axes.end();
    mlir::AffineExpr e = b_.getAffineDimExpr(i);
    exprs.push_back(flipped ? b_.getAffineConstantExpr(n->shape[i] - 1) - e : e);
  }
  llvm::SmallVector<mlir::AffineMap> maps{mlir::AffineMap::get(rank, 0, exprs, &ctx_), b_.getMultiDimIdentityMap(rank)};
  llvm::SmallVector<mlir::utils::IteratorType> iters(rank, mlir::utils::IteratorType::parallel);
  auto op = b_.create<mlir::linalg::GenericOp>(
      loc(n), mlir::TypeRange{tensor_type(n)}, mlir::ValueRange{in(n, 0)}, mlir::ValueRange{empty(n)}, maps, iters,
      [&](mlir::OpBuilder& nb, mlir::Location bl, mlir::ValueRange args) { nb.create<mlir::linalg::YieldOp>(bl, args[0]); });
  return op.getResult(0);
}

// An id clamped into [0, rows) as an index: out-of-range ids read the nearest row, never memory
// outside the table (the checked variant lives in nets::token_embed).
Value Emitter::row_index(mlir::OpBuilder& nb, mlir::Location l, Value id, int64_t rows) {
  namespace arith = mlir::arith;
  Value zero = nb.create<arith::ConstantOp>(l, nb.getI32IntegerAttr(0));
  Value last = nb.create<arith::ConstantOp>(l, nb.getI32IntegerAttr(static_cast<int32_t>(rows - 1)));
  Value clamped = nb.create<arith::MinSIOp>(l, nb.create<arith::MaxSIOp>(l, id, zero), last);
  return nb.create<arith::IndexCastOp>(l, nb.getIndexType(), clamped);
}

// out[i..., j...] = table[ids[i...], j...]
Value Emitter::gather(const Node* n) {
  mlir::Location l = loc(n);
  unsigned rank = static_cast<unsigned>(n->shape.size());
  unsigned id_rank = static_cast<unsigned>(n->inputs[1]->shape.size());
  int64_t rows = n->inputs[0]->shape[0];
  Value table = in(n, 0);
  llvm::SmallVector<mlir::AffineExpr> id_exprs;
  for (unsigned i = 0; i < id_rank; ++i) id_exprs.push_back(b_.getAffineDimExpr(i));
  llvm::SmallVector<mlir::AffineMap> maps{mlir::AffineMap::get(rank, 0, id_exprs, &ctx_), b_.getMultiDimIdentityMap(rank)};
  llvm::SmallVector<mlir::utils::IteratorType> iters(rank, mlir::utils::IteratorType::parallel);
  auto op = b_.create<mlir::linalg::GenericOp>(
      l, mlir::TypeRange{tensor_type(n)}, mlir::ValueRange{in(n, 1)}, mlir::ValueRange{empty(n)}, maps, iters,
      [&](mlir::OpBuilder& nb, mlir::Location bl, mlir::ValueRange args) {
        llvm::SmallVector<Value> index{row_index(nb, bl, args[0], rows)};
        for (unsigned i = id_rank; i < rank; ++i) index.push_back(nb.create<mlir::linalg::IndexOp>(bl, i));
        nb.create<mlir::linalg::YieldOp>(bl, Value(nb.create<mlir::tensor::ExtractOp>(bl, table, index)));
      });
  return op.getResult(0);
}

// A loop over the ids adding each update row into its output row (ids may repeat, so this is
// sequential); rows and updates are flattened to 2-D around it.
Value Emitter::scatter_add(const Node* n) {
  mlir::Location l = loc(n);
  const Shape& id_shape = n->inputs[0]->shape;
  int64_t count = numel(id_shape), rows = n->shape[0], width = numel(n->shape) / rows;
  Value ids = reshape(in(n, 0), id_shape, {count}, l);
  Value updates = reshape(in(n, 1), n->inputs[1]->shape, {count, width}, l);
  mlir::Type elt = element(n->dtype);
  auto flat_type = mlir::RankedTensorType::get({rows, width}, elt);
  Value zero = b_.create<mlir::arith::ConstantOp>(l, mlir::cast<mlir::TypedAttr>(b_.getZeroAttr(elt)));
  Value acc = b_.create<mlir::linalg::FillOp>(l, zero, b_.create<mlir::tensor::EmptyOp>(l, flat_type.getShape(), elt).getResult())
                  .getResult(0);
  Value lb = b_.create<mlir::arith::ConstantIndexOp>(l, 0);
  Value ub = b_.create<mlir::arith::ConstantIndexOp>(l, count);
  Value step = b_.create<mlir::arith::ConstantIndexOp>(l, 1);
  bool f = is_float(n->dtype);
  auto loop = b_.create<mlir::scf::ForOp>(
      l, lb, ub, step, mlir::ValueRange{acc}, [&](mlir::OpBuilder& nb, mlir::Location bl, Value i, mlir::ValueRange iter) {
        Value row = row_index(nb, bl, nb.create<mlir::tensor::ExtractOp>(bl, ids, mlir::ValueRange{i}), rows);
        auto row_type = mlir::RankedTensorType::get({width}, elt);
        auto row_of = [&](Value source, Value r) {
          llvm::SmallVector<mlir::OpFoldResult> offsets{r, nb.getIndexAttr(0)}, sizes{nb.getIndexAttr(1), nb.getIndexAttr(width)},
              strides(2, nb.getIndexAttr(1));
          return nb.create<mlir::tensor::ExtractSliceOp>(bl, row_type, source, offsets, sizes, strides);
        };
        Value update = row_of(updates, i);
        Value current = row_of(iter[0], row);
        auto map = nb.getMultiDimIdentityMap(1);
        auto sum = nb.create<mlir::linalg::GenericOp>(
            bl, mlir::TypeRange{row_type}, mlir::ValueRange{update}, mlir::ValueRange{current},
            llvm::ArrayRef<mlir::AffineMap>{map, map}, llvm::ArrayRef<mlir::utils::IteratorType>{mlir::utils::IteratorType::parallel},
            [&](mlir::OpBuilder& b2, mlir::Location l2, mlir::ValueRange a) {
              Value r = f ? Value(b2.create<mlir::arith::AddFOp>(l2, a[0], a[1])) : b2.create<mlir::arith::AddIOp>(l2, a[0], a[1]);
              b2.create<mlir::linalg::YieldOp>(l2, r);
            });
        llvm::SmallVector<mlir::OpFoldResult> offsets{row, nb.getIndexAttr(0)}, sizes{nb.getIndexAttr(1), nb.getIndexAttr(width)},
            strides(2, nb.getIndexAttr(1));
        Value updated = nb.create<mlir::tensor::InsertSliceOp>(bl, sum.getResult(0), iter[0], offsets, sizes, strides);
        nb.create<mlir::scf::YieldOp>(bl, updated);
      });
  return reshape(loop.getResult(0), {rows, width}, n->shape, l);
}


mlir::OwningOpRef<mlir::ModuleOp> emit_module(mlir::MLIRContext& context, const Function& function) {
  return emit_module(context, std::span<const Function>(&function, 1));
}

mlir::OwningOpRef<mlir::ModuleOp> emit_module(mlir::MLIRContext& context, std::span<const Function> functions) {
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::ModuleOp::create(mlir::UnknownLoc::get(&context));
  for (const Function& function : functions) Emitter(context, *module).emit(function);
  if (mlir::failed(mlir::verify(*module)))
    throw Error("[compile] internal error: the emitted MLIR does not verify:\n" + print_module(*module, true));
  return module;
}

}  // namespace zephyr::compiler
