// RUN: %zephyr-opt --zephyr-mark-threads=threads=2 %s | FileCheck %s
// A matmul is split over threads only with at least 64 rows and 2^21 multiply-adds: a fork/join
// costs more than a small product takes.

// CHECK-LABEL: func.func @big
// CHECK: linalg.matmul {zephyr.parallel}
func.func @big(%a: tensor<128x256xf32>, %b: tensor<256x128xf32>, %c: tensor<128x128xf32>) -> tensor<128x128xf32> {
  %0 = linalg.matmul ins(%a, %b : tensor<128x256xf32>, tensor<256x128xf32>) outs(%c : tensor<128x128xf32>) -> tensor<128x128xf32>
  return %0 : tensor<128x128xf32>
}

// CHECK-LABEL: func.func @few_rows
// CHECK-NOT: zephyr.parallel
// CHECK: return
func.func @few_rows(%a: tensor<8x256xf32>, %b: tensor<256x4096xf32>, %c: tensor<8x4096xf32>) -> tensor<8x4096xf32> {
  %0 = linalg.matmul ins(%a, %b : tensor<8x256xf32>, tensor<256x4096xf32>) outs(%c : tensor<8x4096xf32>) -> tensor<8x4096xf32>
  return %0 : tensor<8x4096xf32>
}

// Aᵀ·B counts its multiply-adds by B's rows (k), not A's columns.
// CHECK-LABEL: func.func @transposed_lhs
// CHECK: linalg.matmul_transpose_a {zephyr.parallel}
func.func @transposed_lhs(%a: tensor<256x128xf32>, %b: tensor<256x128xf32>, %c: tensor<128x128xf32>) -> tensor<128x128xf32> {
  %0 = linalg.matmul_transpose_a ins(%a, %b : tensor<256x128xf32>, tensor<256x128xf32>) outs(%c : tensor<128x128xf32>) -> tensor<128x128xf32>
  return %0 : tensor<128x128xf32>
}
