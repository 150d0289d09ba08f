// RUN: %zephyr-opt --zephyr-fold-transposed-lhs %s | FileCheck %s
// RUN: %zephyr-opt --zephyr-fold-transposed-lhs --zephyr-mark-vectorization --zephyr-tile-and-vectorize %s | FileCheck %s --check-prefix=VECTOR
// matmul(transpose(A), B) reads A in place as linalg.matmul_transpose_a: the transpose (a copy of
// A) is gone, and the product is tiled and vectorized like any matmul. A one-row product keeps
// its transpose: it is a matrix-vector kernel.

// CHECK-LABEL: func.func @weight_gradient
// CHECK-NOT: linalg.transpose
// CHECK: linalg.matmul_transpose_a ins(%arg0, %arg1 : tensor<300x70xf32>, tensor<300x40xf32>)
// VECTOR-LABEL: func.func @weight_gradient
// VECTOR: scf.for
// VECTOR: vector.contract
// VECTOR-NOT: linalg.matmul_transpose_a
func.func @weight_gradient(%x: tensor<300x70xf32>, %g: tensor<300x40xf32>, %c: tensor<70x40xf32>) -> tensor<70x40xf32> {
  %e = tensor.empty() : tensor<70x300xf32>
  %xt = linalg.transpose ins(%x : tensor<300x70xf32>) outs(%e : tensor<70x300xf32>) permutation = [1, 0]
  %0 = linalg.matmul ins(%xt, %g : tensor<70x300xf32>, tensor<300x40xf32>) outs(%c : tensor<70x40xf32>) -> tensor<70x40xf32>
  return %0 : tensor<70x40xf32>
}

// A transpose that something else also reads stays for that reader.
// CHECK-LABEL: func.func @shared
// CHECK: %[[T:.*]] = linalg.transpose
// CHECK: linalg.matmul_transpose_a ins(%arg0, %arg1
// CHECK: return %{{.*}}, %[[T]]
func.func @shared(%x: tensor<16x8xf32>, %g: tensor<16x4xf32>, %c: tensor<8x4xf32>) -> (tensor<8x4xf32>, tensor<8x16xf32>) {
  %e = tensor.empty() : tensor<8x16xf32>
  %xt = linalg.transpose ins(%x : tensor<16x8xf32>) outs(%e : tensor<8x16xf32>) permutation = [1, 0]
  %0 = linalg.matmul ins(%xt, %g : tensor<8x16xf32>, tensor<16x4xf32>) outs(%c : tensor<8x4xf32>) -> tensor<8x4xf32>
  return %0, %xt : tensor<8x4xf32>, tensor<8x16xf32>
}

// CHECK-LABEL: func.func @one_row
// CHECK: linalg.transpose
// CHECK: linalg.matmul ins
func.func @one_row(%x: tensor<64x1xf32>, %w: tensor<64x32xf32>, %c: tensor<1x32xf32>) -> tensor<1x32xf32> {
  %e = tensor.empty() : tensor<1x64xf32>
  %xt = linalg.transpose ins(%x : tensor<64x1xf32>) outs(%e : tensor<1x64xf32>) permutation = [1, 0]
  %0 = linalg.matmul ins(%xt, %w : tensor<1x64xf32>, tensor<64x32xf32>) outs(%c : tensor<1x32xf32>) -> tensor<1x32xf32>
  return %0 : tensor<1x32xf32>
}

// A's rows 1 KB apart (256 f32) fall into 4 of L1's 64 sets: walking its columns would thrash
// L1, so the transpose stays.
// CHECK-LABEL: func.func @aliasing_rows
// CHECK: linalg.transpose
// CHECK: linalg.matmul ins
func.func @aliasing_rows(%x: tensor<128x256xf32>, %g: tensor<128x32xf32>, %c: tensor<256x32xf32>) -> tensor<256x32xf32> {
  %e = tensor.empty() : tensor<256x128xf32>
  %xt = linalg.transpose ins(%x : tensor<128x256xf32>) outs(%e : tensor<256x128xf32>) permutation = [1, 0]
  %0 = linalg.matmul ins(%xt, %g : tensor<256x128xf32>, tensor<128x32xf32>) outs(%c : tensor<256x32xf32>) -> tensor<256x32xf32>
  return %0 : tensor<256x32xf32>
}

// One transpose read by two products is folded into both, and then it is gone.
// CHECK-LABEL: func.func @two_products
// CHECK-NOT: linalg.transpose
// CHECK: linalg.matmul_transpose_a ins(%arg0, %arg1
// CHECK: linalg.matmul_transpose_a ins(%arg0, %arg2
func.func @two_products(%x: tensor<16x8xf32>, %g: tensor<16x4xf32>, %h: tensor<16x4xf32>, %c: tensor<8x4xf32>) -> (tensor<8x4xf32>, tensor<8x4xf32>) {
  %e = tensor.empty() : tensor<8x16xf32>
  %xt = linalg.transpose ins(%x : tensor<16x8xf32>) outs(%e : tensor<8x16xf32>) permutation = [1, 0]
  %0 = linalg.matmul ins(%xt, %g : tensor<8x16xf32>, tensor<16x4xf32>) outs(%c : tensor<8x4xf32>) -> tensor<8x4xf32>
  %1 = linalg.matmul ins(%xt, %h : tensor<8x16xf32>, tensor<16x4xf32>) outs(%c : tensor<8x4xf32>) -> tensor<8x4xf32>
  return %0, %1 : tensor<8x4xf32>, tensor<8x4xf32>
}
