// RUN: %zephyr-opt --zephyr-split-matmul-rows=threads=3 %s | FileCheck %s
// Row blocks are whole register tiles (multiples of 8 rows) that divide the rows exactly, so
// each block is tiled as one thread tiles the whole matrix: 128 rows on 3 threads are 4 blocks
// of 32, not 43 + 43 + 42. Rows with no such split stay on one thread.

// CHECK-LABEL: func.func @blocks
// CHECK: scf.forall ({{.*}}) in (4)
// CHECK: linalg.matmul ins({{.*}} : tensor<32x256xf32>, tensor<256x128xf32>)
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

// Aᵀ·B splits the same way: a block of C's rows is a block of A's columns.
// CHECK-LABEL: func.func @transposed_lhs
// CHECK: scf.forall ({{.*}}) in (4)
// CHECK: linalg.matmul_transpose_a ins({{.*}} : tensor<256x32xf32>, tensor<256x128xf32>)
func.func @transposed_lhs(%a: tensor<256x128xf32>, %b: tensor<256x128xf32>, %c: tensor<128x128xf32>) -> tensor<128x128xf32> {
  %0 = linalg.matmul_transpose_a {zephyr.parallel} ins(%a, %b : tensor<256x128xf32>, tensor<256x128xf32>) outs(%c : tensor<128x128xf32>) -> tensor<128x128xf32>
  return %0 : tensor<128x128xf32>
}
