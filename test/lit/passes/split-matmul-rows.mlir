// RUN: %zephyr-opt --zephyr-split-matmul-rows=threads=3 %s | FileCheck %s
// RUN: %zephyr-opt --zephyr-split-matmul-rows=threads=2 %s | FileCheck %s --check-prefix=TWO
// Row blocks are whole register tiles (multiples of 8 rows) that divide the rows exactly, so
// each block is tiled as one thread tiles the whole matrix: 128 rows on 3 threads are not
// 43 + 43 + 42. Of those splits, the fewest blocks that keep the threads busy 90 % of the time,
// else the most even: 8 blocks of 16 on 3 threads (3 + 3 + 2; 4 blocks of 32 would leave a thread
// idle half the time). Rows with no such split stay on one thread.

// CHECK-LABEL: func.func @blocks
// CHECK: scf.forall ({{.*}}) = (0) to (128) step (16)
// CHECK: linalg.matmul ins({{.*}} : tensor<16x256xf32>, tensor<256x128xf32>)
// TWO-LABEL: func.func @blocks
// TWO: scf.forall ({{.*}}) = (0) to (128) step (64)
// TWO: linalg.matmul ins({{.*}} : tensor<64x256xf32>, tensor<256x128xf32>)
// CHECK-NOT: zephyr.parallel
func.func @blocks(%a: tensor<128x256xf32>, %b: tensor<256x128xf32>, %c: tensor<128x128xf32>) -> tensor<128x128xf32> {
  %0 = linalg.matmul {zephyr.parallel} ins(%a, %b : tensor<128x256xf32>, tensor<256x128xf32>) outs(%c : tensor<128x128xf32>) -> tensor<128x128xf32>
  return %0 : tensor<128x128xf32>
}

// CHECK-LABEL: func.func @odd_rows
// CHECK-NOT: scf.forall
// CHECK: linalg.matmul ins(
// CHECK-NOT: zephyr.parallel
func.func @odd_rows(%a: tensor<100x256xf32>, %b: tensor<256x128xf32>, %c: tensor<100x128xf32>) -> tensor<100x128xf32> {
  %0 = linalg.matmul {zephyr.parallel} ins(%a, %b : tensor<100x256xf32>, tensor<256x128xf32>) outs(%c : tensor<100x128xf32>) -> tensor<100x128xf32>
  return %0 : tensor<100x128xf32>
}

// 1000 rows on 2 threads: 5 blocks of 200 would keep one thread idle a sixth of the time; 25
// blocks of 40 are shared out 13 and 12.
// TWO-LABEL: func.func @uneven
// TWO: scf.forall ({{.*}}) = (0) to (1000) step (40)
// TWO: linalg.matmul ins({{.*}} : tensor<40x64xf32>, tensor<64x64xf32>)
func.func @uneven(%a: tensor<1000x64xf32>, %b: tensor<64x64xf32>, %c: tensor<1000x64xf32>) -> tensor<1000x64xf32> {
  %0 = linalg.matmul {zephyr.parallel} ins(%a, %b : tensor<1000x64xf32>, tensor<64x64xf32>) outs(%c : tensor<1000x64xf32>) -> tensor<1000x64xf32>
  return %0 : tensor<1000x64xf32>
}

// Aᵀ·B splits the same way: a block of C's rows is a block of A's columns.
// CHECK-LABEL: func.func @transposed_lhs
// CHECK: scf.forall ({{.*}}) = (0) to (128) step (16)
// CHECK: linalg.matmul_transpose_a ins({{.*}} : tensor<256x16xf32>, tensor<256x128xf32>)
func.func @transposed_lhs(%a: tensor<256x128xf32>, %b: tensor<256x128xf32>, %c: tensor<128x128xf32>) -> tensor<128x128xf32> {
  %0 = linalg.matmul_transpose_a {zephyr.parallel} ins(%a, %b : tensor<256x128xf32>, tensor<256x128xf32>) outs(%c : tensor<128x128xf32>) -> tensor<128x128xf32>
  return %0 : tensor<128x128xf32>
}

// The zeros a split product accumulates into are written by each block, for its own rows.
// CHECK-LABEL: func.func @zeroed_per_block
// CHECK: scf.forall ({{.*}}) = (0) to (128) step (16) shared_outs(%[[OUT:.*]] = %{{.*}}) -> (tensor<128x128xf32>)
// CHECK: %[[ROWS:.*]] = tensor.extract_slice %[[OUT]]
// CHECK: %[[ZEROS:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[ROWS]] : tensor<16x128xf32>)
// CHECK: linalg.matmul ins({{.*}}) outs(%[[ZEROS]] : tensor<16x128xf32>)
func.func @zeroed_per_block(%a: tensor<128x256xf32>, %b: tensor<256x128xf32>) -> tensor<128x128xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<128x128xf32>
  %c = linalg.fill ins(%zero : f32) outs(%e : tensor<128x128xf32>) -> tensor<128x128xf32>
  %0 = linalg.matmul {zephyr.parallel} ins(%a, %b : tensor<128x256xf32>, tensor<256x128xf32>) outs(%c : tensor<128x128xf32>) -> tensor<128x128xf32>
  return %0 : tensor<128x128xf32>
}

// A split product whose one user is an elementwise nest over it (its epilogue: here the
// optimizer's update w - Aᵀ·B) is split with it: the user's row blocks compute their block of
// the product, zeroed in the block, so the script applies the update tile by tile there. The
// whole product and fill are gone, and the user is not split again (no zephyr.parallel).
// TWO-LABEL: func.func @with_epilogue
// TWO-NOT: linalg.matmul_transpose_a
// TWO: scf.forall (%[[R:.*]]) = (0) to (784) step (392)
// TWO: %[[ZEROED:.*]] = linalg.fill {{.*}} -> tensor<392x512xf32>
// TWO: %[[BLOCK:.*]] = linalg.matmul_transpose_a ins({{.*}} : tensor<128x392xf32>, tensor<128x512xf32>) outs(%[[ZEROED]] : tensor<392x512xf32>)
// TWO: linalg.generic
// TWO-SAME: ins(%{{.*}}, %[[BLOCK]] : tensor<392x512xf32>, tensor<392x512xf32>)
// TWO-NOT: zephyr.parallel
// TWO: arith.subf
// TWO: tensor.parallel_insert_slice
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @with_epilogue(%a: tensor<128x784xf32>, %b: tensor<128x512xf32>, %w: tensor<784x512xf32>) -> tensor<784x512xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<784x512xf32>
  %c = linalg.fill ins(%zero : f32) outs(%e : tensor<784x512xf32>) -> tensor<784x512xf32>
  %0 = linalg.matmul_transpose_a {zephyr.parallel} ins(%a, %b : tensor<128x784xf32>, tensor<128x512xf32>) outs(%c : tensor<784x512xf32>) -> tensor<784x512xf32>
  %e2 = tensor.empty() : tensor<784x512xf32>
  %update = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%w, %0 : tensor<784x512xf32>, tensor<784x512xf32>) outs(%e2 : tensor<784x512xf32>) attrs = {zephyr.parallel} {
  ^bb0(%x: f32, %g: f32, %o: f32):
    %r = arith.subf %x, %g : f32
    linalg.yield %r : f32
  } -> tensor<784x512xf32>
  return %update : tensor<784x512xf32>
}
