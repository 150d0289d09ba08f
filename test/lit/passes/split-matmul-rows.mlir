// RUN: %zephyr-opt --zephyr-split-matmul-rows=threads=3 %s | FileCheck %s
// RUN: %zephyr-opt --zephyr-split-matmul-rows=threads=2 %s | FileCheck %s --check-prefix=TWO
// Row blocks are whole register tiles (multiples of 8 rows) that divide the rows exactly, so
// each block is tiled as one thread tiles the whole matrix: 128 rows on 3 threads are not
// 43 + 43 + 42. Of those splits, the fewest blocks that keep the threads busy 90 % of the time,
// else the most even: 8 blocks of 16 on 3 threads (3 + 3 + 2; 4 blocks of 32 would leave a thread
// idle half the time). Rows with no such split stay on one thread.

// CHECK-LABEL: func.func @blocks
// CHECK: scf.forall ({{.*}}) in (8)
// CHECK: linalg.matmul ins({{.*}} : tensor<16x256xf32>, tensor<256x128xf32>)
// TWO-LABEL: func.func @blocks
// TWO: scf.forall ({{.*}}) in (2)
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
// TWO: scf.forall ({{.*}}) in (25)
// TWO: linalg.matmul ins({{.*}} : tensor<40x64xf32>, tensor<64x64xf32>)
func.func @uneven(%a: tensor<1000x64xf32>, %b: tensor<64x64xf32>, %c: tensor<1000x64xf32>) -> tensor<1000x64xf32> {
  %0 = linalg.matmul {zephyr.parallel} ins(%a, %b : tensor<1000x64xf32>, tensor<64x64xf32>) outs(%c : tensor<1000x64xf32>) -> tensor<1000x64xf32>
  return %0 : tensor<1000x64xf32>
}

// Aᵀ·B splits the same way: a block of C's rows is a block of A's columns.
// CHECK-LABEL: func.func @transposed_lhs
// CHECK: scf.forall ({{.*}}) in (8)
// CHECK: linalg.matmul_transpose_a ins({{.*}} : tensor<256x16xf32>, tensor<256x128xf32>)
func.func @transposed_lhs(%a: tensor<256x128xf32>, %b: tensor<256x128xf32>, %c: tensor<128x128xf32>) -> tensor<128x128xf32> {
  %0 = linalg.matmul_transpose_a {zephyr.parallel} ins(%a, %b : tensor<256x128xf32>, tensor<256x128xf32>) outs(%c : tensor<128x128xf32>) -> tensor<128x128xf32>
  return %0 : tensor<128x128xf32>
}

// The zeros a split product accumulates into are written by each block, for its own rows.
// CHECK-LABEL: func.func @zeroed_per_block
// CHECK: scf.forall ({{.*}}) in (8) shared_outs(%[[OUT:.*]] = %{{.*}}) -> (tensor<128x128xf32>)
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
