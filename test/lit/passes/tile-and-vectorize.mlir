// RUN: %zephyr-opt --zephyr-tile-and-vectorize %s | FileCheck %s
// RUN: %zephyr-opt --zephyr-tile-and-vectorize=threads=2 %s | FileCheck %s --check-prefix=SPLIT
// transforms.mlir tiles a matmul (marked zephyr.matmul) for cache and registers and turns it into
// broadcast + FMA; one marked zephyr.parallel is first split into a row block per thread.

// CHECK-LABEL: func.func @mm
// CHECK: scf.for
// CHECK: vector.contract
// CHECK-NOT: linalg.matmul
// SPLIT-LABEL: func.func @mm
// SPLIT: scf.forall ({{.*}}) in (2)
// SPLIT: vector.contract
func.func @mm(%a: tensor<128x64xf32>, %b: tensor<64x64xf32>, %c: tensor<128x64xf32>) -> tensor<128x64xf32> {
  %0 = linalg.matmul {zephyr.matmul, zephyr.parallel} ins(%a, %b : tensor<128x64xf32>, tensor<64x64xf32>) outs(%c : tensor<128x64xf32>) -> tensor<128x64xf32>
  return %0 : tensor<128x64xf32>
}

// A product marked zephyr.matmul_panel (B beyond L2) is tiled N, K, M for cache and vectorized
// like the others.
// CHECK-LABEL: func.func @panel
// CHECK: scf.for
// CHECK: vector.contract
// CHECK-NOT: linalg.matmul
func.func @panel(%a: tensor<64x600xf32>, %b: tensor<600x520xf32>, %c: tensor<64x520xf32>) -> tensor<64x520xf32> {
  %0 = linalg.matmul {zephyr.matmul_panel} ins(%a, %b : tensor<64x600xf32>, tensor<600x520xf32>) outs(%c : tensor<64x520xf32>) -> tensor<64x520xf32>
  return %0 : tensor<64x520xf32>
}

// A one-row product (zephyr.matvec) is 256 columns a step: 16 accumulators along a contiguous row
// of the matrix, the 44 left over peeled into a static tile; no scalar extracts.
// CHECK-LABEL: func.func @matvec
// CHECK: scf.for
// CHECK: vector.contract {{.*}} vector<1x256xf32>
// CHECK: vector.contract {{.*}} vector<1x44xf32>
// CHECK-NOT: vector.extract
// CHECK-NOT: linalg.matmul
func.func @matvec(%a: tensor<1x64xf32>, %b: tensor<64x300xf32>, %c: tensor<1x300xf32>) -> tensor<1x300xf32> {
  %0 = linalg.matmul {zephyr.matvec} ins(%a, %b : tensor<1x64xf32>, tensor<64x300xf32>) outs(%c : tensor<1x300xf32>) -> tensor<1x300xf32>
  return %0 : tensor<1x300xf32>
}

// A 40-wide elementwise result (16-lane loop over 32, then an 8-lane remainder) inserted into a
// larger tensor keeps all 40 values: the loop's part goes into the slice before the remainder is
// written there (MLIR 19's folder alone kept only the remainder's 8).
#lane = affine_map<(d0) -> (d0)>
// CHECK-LABEL: func.func @remainder_into_slice
// CHECK: %[[LOOP:.*]] = scf.for
// CHECK: %[[ROW:.*]] = tensor.insert_slice %[[LOOP]] into %{{.*}}[0, 0] [1, 40] [1, 1]
// CHECK: vector.transfer_write %{{.*}}, %[[ROW]][%{{.*}}, %c32]
func.func @remainder_into_slice(%a: tensor<40xf32>, %rows: tensor<2x40xf32>) -> tensor<2x40xf32> {
  %e = tensor.empty() : tensor<40xf32>
  %g = linalg.generic {indexing_maps = [#lane, #lane], iterator_types = ["parallel"]}
      ins(%a : tensor<40xf32>) outs(%e : tensor<40xf32>) attrs = {zephyr.elementwise, zephyr.elementwise_1} {
  ^bb0(%x: f32, %o: f32):
    %y = arith.addf %x, %x : f32
    linalg.yield %y : f32
  } -> tensor<40xf32>
  %r = tensor.insert_slice %g into %rows[0, 0] [1, 40] [1, 1] : tensor<40xf32> into tensor<2x40xf32>
  return %r : tensor<2x40xf32>
}

// A batch of matrix transposes (zephyr.tile_transpose_3) moves 16x16 blocks through registers,
// the 5 rows left over peeled into static blocks; one that keeps its last axis in place
// (zephyr.elementwise_4) copies 16-element rows. No linalg.transpose is left.
// CHECK-LABEL: func.func @batched_transposes
// CHECK-NOT: linalg.transpose
// CHECK: vector.transfer_read {{.*}} : tensor<3x21x40xf32>, vector<1x16x16xf32>
// CHECK: vector.transpose {{.*}} [0, 2, 1]
// CHECK: vector.transfer_read {{.*}} : tensor<3x21x40xf32>, vector<1x5x16xf32>
// CHECK: vector.transfer_read {{.*}} : tensor<2x9x4x32xf32>, vector<1x1x1x16xf32>
// CHECK-NOT: linalg.transpose
// CHECK: return
func.func @batched_transposes(%a: tensor<3x21x40xf32>, %h: tensor<2x9x4x32xf32>) -> (tensor<3x40x21xf32>, tensor<2x4x9x32xf32>) {
  %e0 = tensor.empty() : tensor<3x40x21xf32>
  %0 = linalg.transpose ins(%a : tensor<3x21x40xf32>) outs(%e0 : tensor<3x40x21xf32>) permutation = [0, 2, 1]
      {zephyr.tile_transpose, zephyr.tile_transpose_3}
  %e1 = tensor.empty() : tensor<2x4x9x32xf32>
  %1 = linalg.transpose ins(%h : tensor<2x9x4x32xf32>) outs(%e1 : tensor<2x4x9x32xf32>) permutation = [0, 2, 1, 3]
      {zephyr.elementwise, zephyr.elementwise_4}
  return %0, %1 : tensor<3x40x21xf32>, tensor<2x4x9x32xf32>
}

// A product's epilogue (zephyr.epilogue: the optimizer's update w - Aᵀ·B) is applied to each
// 32 x 512 tile of C right after the tile's products, the remainders (16 rows, 18 columns)
// included: four tiles, each zeroed, multiplied, then updated and inserted into the result.
// CHECK-LABEL: func.func @epilogue
// CHECK: linalg.fill
// CHECK: vector.contract
// CHECK: arith.subf
// CHECK: tensor.insert_slice
// CHECK: linalg.fill
// CHECK: vector.contract
// CHECK: arith.subf
// CHECK: tensor.insert_slice
// CHECK: linalg.fill
// CHECK: vector.contract
// CHECK: arith.subf
// CHECK: tensor.insert_slice
// CHECK: linalg.fill
// CHECK: vector.contract
// CHECK: arith.subf
// CHECK: tensor.insert_slice
// CHECK-NOT: linalg.generic
// CHECK: return
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @epilogue(%a: tensor<100x784xf32>, %b: tensor<100x530xf32>, %w: tensor<784x530xf32>) -> tensor<784x530xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<784x530xf32>
  %c = linalg.fill ins(%zero : f32) outs(%e : tensor<784x530xf32>) -> tensor<784x530xf32>
  %0 = linalg.matmul_transpose_a {zephyr.matmul} ins(%a, %b : tensor<100x784xf32>, tensor<100x530xf32>) outs(%c : tensor<784x530xf32>) -> tensor<784x530xf32>
  %e2 = tensor.empty() : tensor<784x530xf32>
  %update = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%w, %0 : tensor<784x530xf32>, tensor<784x530xf32>) outs(%e2 : tensor<784x530xf32>) attrs = {zephyr.elementwise, zephyr.epilogue} {
  ^bb0(%x: f32, %g: f32, %o: f32):
    %r = arith.subf %x, %g : f32
    linalg.yield %r : f32
  } -> tensor<784x530xf32>
  return %update : tensor<784x530xf32>
}
