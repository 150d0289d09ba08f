// RUN: %zephyr-opt --zephyr-mark-vectorization %s | FileCheck %s
// Float elementwise nests are marked with their rank, matrix transposes for 16x16 tiles; integer
// nests (vectorized, they measured wrong) and reductions are left alone.

#id = affine_map<(d0, d1) -> (d0, d1)>
#reduce = affine_map<(d0, d1) -> (d0)>
// CHECK-LABEL: func.func @marks
func.func @marks(%a: tensor<8x32xf32>, %i: tensor<8x32xi32>) -> (tensor<8x32xf32>, tensor<32x8xf32>, tensor<8x32xi32>, tensor<8xf32>) {
  %e = tensor.empty() : tensor<8x32xf32>
  // CHECK: linalg.generic
  // CHECK-SAME: zephyr.elementwise, zephyr.elementwise_2
  %exp = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%a : tensor<8x32xf32>) outs(%e : tensor<8x32xf32>) {
  ^bb0(%v: f32, %o: f32):
    %r = math.exp %v : f32
    linalg.yield %r : f32
  } -> tensor<8x32xf32>
  // CHECK: linalg.transpose
  // CHECK-SAME: zephyr.tile_transpose, zephyr.tile_transpose_2
  %te = tensor.empty() : tensor<32x8xf32>
  %t = linalg.transpose ins(%a : tensor<8x32xf32>) outs(%te : tensor<32x8xf32>) permutation = [1, 0]
  // CHECK: linalg.generic
  // CHECK-NOT: zephyr.elementwise
  // CHECK: arith.addi
  %ie = tensor.empty() : tensor<8x32xi32>
  %sum = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%i : tensor<8x32xi32>) outs(%ie : tensor<8x32xi32>) {
  ^bb0(%v: i32, %o: i32):
    %r = arith.addi %v, %v : i32
    linalg.yield %r : i32
  } -> tensor<8x32xi32>
  // CHECK: linalg.generic
  // CHECK-NOT: zephyr.elementwise
  // CHECK: arith.addf
  %re = tensor.empty() : tensor<8xf32>
  %row = linalg.generic {indexing_maps = [#id, #reduce], iterator_types = ["parallel", "reduction"]}
      ins(%a : tensor<8x32xf32>) outs(%re : tensor<8xf32>) {
  ^bb0(%v: f32, %o: f32):
    %r = arith.addf %v, %o : f32
    linalg.yield %r : f32
  } -> tensor<8xf32>
  return %exp, %t, %sum, %row : tensor<8x32xf32>, tensor<32x8xf32>, tensor<8x32xi32>, tensor<8xf32>
}

// Matmuls by shape: one result row (zephyr.matvec), a B larger than L2's 1 MB
// (zephyr.matmul_panel: 512 x 1024 f32 is 2 MB), and the rest (zephyr.matmul).
// CHECK-LABEL: func.func @products
// CHECK: linalg.matmul {zephyr.matvec}
// CHECK: linalg.matmul {zephyr.matmul_panel}
// CHECK: linalg.matmul {zephyr.matmul}
func.func @products(%v: tensor<1x512xf32>, %a: tensor<64x512xf32>, %big: tensor<512x1024xf32>, %small: tensor<512x64xf32>,
                    %cv: tensor<1x1024xf32>, %cb: tensor<64x1024xf32>, %cs: tensor<64x64xf32>)
    -> (tensor<1x1024xf32>, tensor<64x1024xf32>, tensor<64x64xf32>) {
  %0 = linalg.matmul ins(%v, %big : tensor<1x512xf32>, tensor<512x1024xf32>) outs(%cv : tensor<1x1024xf32>) -> tensor<1x1024xf32>
  %1 = linalg.matmul ins(%a, %big : tensor<64x512xf32>, tensor<512x1024xf32>) outs(%cb : tensor<64x1024xf32>) -> tensor<64x1024xf32>
  %2 = linalg.matmul ins(%a, %small : tensor<64x512xf32>, tensor<512x64xf32>) outs(%cs : tensor<64x64xf32>) -> tensor<64x64xf32>
  return %0, %1, %2 : tensor<1x1024xf32>, tensor<64x1024xf32>, tensor<64x64xf32>
}

// Transposes of rank 3 and 4: a batch of matrices (the last two axes swapped) in 16x16 blocks,
// rows that keep the last axis in place as an elementwise copy; any other permutation, and
// integer elements, stay loops.
// CHECK-LABEL: func.func @batched_transposes
func.func @batched_transposes(%a: tensor<4x8x32xf32>, %h: tensor<2x8x4x16xf32>, %i: tensor<4x8x32xi32>)
    -> (tensor<4x32x8xf32>, tensor<2x8x16x4xf32>, tensor<2x4x8x16xf32>, tensor<8x32x4xf32>, tensor<4x32x8xi32>) {
  // CHECK: linalg.transpose
  // CHECK-SAME: zephyr.tile_transpose, zephyr.tile_transpose_3
  %e0 = tensor.empty() : tensor<4x32x8xf32>
  %0 = linalg.transpose ins(%a : tensor<4x8x32xf32>) outs(%e0 : tensor<4x32x8xf32>) permutation = [0, 2, 1]
  // CHECK: linalg.transpose
  // CHECK-SAME: zephyr.tile_transpose, zephyr.tile_transpose_4
  %e1 = tensor.empty() : tensor<2x8x16x4xf32>
  %1 = linalg.transpose ins(%h : tensor<2x8x4x16xf32>) outs(%e1 : tensor<2x8x16x4xf32>) permutation = [0, 1, 3, 2]
  // CHECK: linalg.transpose
  // CHECK-SAME: zephyr.elementwise, zephyr.elementwise_4
  %e2 = tensor.empty() : tensor<2x4x8x16xf32>
  %2 = linalg.transpose ins(%h : tensor<2x8x4x16xf32>) outs(%e2 : tensor<2x4x8x16xf32>) permutation = [0, 2, 1, 3]
  // CHECK: linalg.transpose
  // CHECK-SAME: permutation = [1, 2, 0]{{ *$}}
  %e3 = tensor.empty() : tensor<8x32x4xf32>
  %3 = linalg.transpose ins(%a : tensor<4x8x32xf32>) outs(%e3 : tensor<8x32x4xf32>) permutation = [1, 2, 0]
  // CHECK: linalg.transpose
  // CHECK-SAME: permutation = [0, 2, 1]{{ *$}}
  %e4 = tensor.empty() : tensor<4x32x8xi32>
  %4 = linalg.transpose ins(%i : tensor<4x8x32xi32>) outs(%e4 : tensor<4x32x8xi32>) permutation = [0, 2, 1]
  return %0, %1, %2, %3, %4 : tensor<4x32x8xf32>, tensor<2x8x16x4xf32>, tensor<2x4x8x16xf32>, tensor<8x32x4xf32>, tensor<4x32x8xi32>
}

// A product's one user that reads and writes C element for element is its epilogue
// (zephyr.epilogue, tiled with it by @tile_epilogue), not a nest of its own. Left alone: a user
// that reads C transposed, a product with two users, and a user split over threads.
#t = affine_map<(d0, d1) -> (d1, d0)>
// CHECK-LABEL: func.func @epilogues
func.func @epilogues(%a: tensor<64x32xf32>, %b: tensor<32x64xf32>, %w: tensor<64x64xf32>)
    -> (tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<64x64xf32>
  %c = linalg.fill ins(%zero : f32) outs(%e : tensor<64x64xf32>) -> tensor<64x64xf32>
  // CHECK: linalg.matmul {zephyr.matmul}
  %0 = linalg.matmul ins(%a, %b : tensor<64x32xf32>, tensor<32x64xf32>) outs(%c : tensor<64x64xf32>) -> tensor<64x64xf32>
  // CHECK: linalg.generic
  // CHECK-SAME: zephyr.elementwise, zephyr.epilogue
  %update = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%w, %0 : tensor<64x64xf32>, tensor<64x64xf32>) outs(%e : tensor<64x64xf32>) {
  ^bb0(%x: f32, %g: f32, %o: f32):
    %r = arith.subf %x, %g : f32
    linalg.yield %r : f32
  } -> tensor<64x64xf32>
  %1 = linalg.matmul ins(%a, %b : tensor<64x32xf32>, tensor<32x64xf32>) outs(%c : tensor<64x64xf32>) -> tensor<64x64xf32>
  // CHECK: linalg.generic
  // CHECK-SAME: zephyr.elementwise, zephyr.elementwise_2
  %transposed = linalg.generic {indexing_maps = [#t, #id], iterator_types = ["parallel", "parallel"]}
      ins(%1 : tensor<64x64xf32>) outs(%e : tensor<64x64xf32>) {
  ^bb0(%g: f32, %o: f32):
    %r = arith.negf %g : f32
    linalg.yield %r : f32
  } -> tensor<64x64xf32>
  %2 = linalg.matmul ins(%a, %b : tensor<64x32xf32>, tensor<32x64xf32>) outs(%c : tensor<64x64xf32>) -> tensor<64x64xf32>
  // CHECK: linalg.generic
  // CHECK-SAME: zephyr.elementwise, zephyr.elementwise_2
  %twice = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%2 : tensor<64x64xf32>) outs(%e : tensor<64x64xf32>) {
  ^bb0(%g: f32, %o: f32):
    %r = arith.negf %g : f32
    linalg.yield %r : f32
  } -> tensor<64x64xf32>
  %3 = linalg.matmul ins(%a, %b : tensor<64x32xf32>, tensor<32x64xf32>) outs(%c : tensor<64x64xf32>) -> tensor<64x64xf32>
  // CHECK: linalg.generic
  // CHECK-SAME: zephyr.elementwise, zephyr.elementwise_2, zephyr.parallel
  %shared = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%3 : tensor<64x64xf32>) outs(%e : tensor<64x64xf32>) attrs = {zephyr.parallel} {
  ^bb0(%g: f32, %o: f32):
    %r = arith.negf %g : f32
    linalg.yield %r : f32
  } -> tensor<64x64xf32>
  return %update, %transposed, %twice, %2, %shared : tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>
}
