// Internal to lib/compiler: an scf.forall whose iterations each fill one slice of a shared tensor.
#pragma once

#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace zephyr::compiler {

/// A value and the slice of the shared tensor it fills.
struct SliceFill {
  mlir::Value value;
  llvm::SmallVector<mlir::OpFoldResult> offsets, sizes, strides;
};

/// `init` filled by `count` iterations, iteration i computing its slice with `body(b, loc, i,
/// shared)`: an scf.forall whose iterations the threads share out (on one thread
/// scf-forall-to-for makes it a loop, pipeline.cpp). The slices must not overlap.
inline mlir::Value forall_filling_slices(
    mlir::OpBuilder& b, mlir::Location loc, int64_t count, mlir::Value init,
    llvm::function_ref<SliceFill(mlir::OpBuilder&, mlir::Location, mlir::Value, mlir::Value)> body) {
  auto forall = b.create<mlir::scf::ForallOp>(
      loc, llvm::ArrayRef<mlir::OpFoldResult>{b.getIndexAttr(count)}, mlir::ValueRange{init}, std::nullopt,
      [&](mlir::OpBuilder& nb, mlir::Location l, mlir::ValueRange args) {
        const SliceFill fill = body(nb, l, args[0], args[1]);
        auto in_parallel = nb.create<mlir::scf::InParallelOp>(l);
        nb.setInsertionPointToStart(in_parallel.getBody());
        nb.create<mlir::tensor::ParallelInsertSliceOp>(l, fill.value, args[1], fill.offsets, fill.sizes, fill.strides);
      });
  return forall.getResult(0);
}

}  // namespace zephyr::compiler
