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

// A nest with two results whose inits are one empty tensor (CSE merges them): each result gets an
// empty tensor of its own, or the forall split would give both the first result's shared output.
#id = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-LABEL: func.func @two_results
// CHECK-DAG: %[[E0:.*]] = tensor.empty() : tensor<512x512xf32>
// CHECK-DAG: %[[E1:.*]] = tensor.empty() : tensor<512x512xf32>
// CHECK: linalg.generic {{.*}} outs(%[[E0]], %[[E1]] : {{.*}}) attrs = {zephyr.parallel}
func.func @two_results(%m: tensor<512x512xf32>, %p: tensor<512x512xf32>) -> (tensor<512x512xf32>, tensor<512x512xf32>) {
  %half = arith.constant 0.5 : f32
  %empty = tensor.empty() : tensor<512x512xf32>
  %r:2 = linalg.generic {indexing_maps = [#id, #id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m, %p : tensor<512x512xf32>, tensor<512x512xf32>) outs(%empty, %empty : tensor<512x512xf32>, tensor<512x512xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32, %o2: f32):
    %s = arith.mulf %a, %half : f32
    %d = arith.subf %b, %s : f32
    linalg.yield %s, %d : f32, f32
  } -> (tensor<512x512xf32>, tensor<512x512xf32>)
  return %r#0, %r#1 : tensor<512x512xf32>, tensor<512x512xf32>
}

// A reduction whose first loop is parallel (rows of a softmax) is split like an elementwise nest;
// one whose first loop is the reduction (a sum over the batch), or with too little work, is not.
#rows_in = affine_map<(d0, d1) -> (d0, d1)>
#rows_out = affine_map<(d0, d1) -> (d0)>
#cols_out = affine_map<(d0, d1) -> (d1)>
// CHECK-LABEL: func.func @reductions
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "reduction"]
// CHECK-SAME: zephyr.parallel
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["reduction", "parallel"]
// CHECK-NOT: zephyr.parallel
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "reduction"]
// CHECK-NOT: zephyr.parallel
// CHECK: return
func.func @reductions(%x: tensor<1024x128xf32>, %small: tensor<64x64xf32>, %r: tensor<1024xf32>, %c: tensor<128xf32>,
                      %s: tensor<64xf32>) -> (tensor<1024xf32>, tensor<128xf32>, tensor<64xf32>) {
  %0 = linalg.generic {indexing_maps = [#rows_in, #rows_out], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<1024x128xf32>) outs(%r : tensor<1024xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %m = arith.maximumf %v, %acc : f32
    linalg.yield %m : f32
  } -> tensor<1024xf32>
  %1 = linalg.generic {indexing_maps = [#rows_in, #cols_out], iterator_types = ["reduction", "parallel"]}
      ins(%x : tensor<1024x128xf32>) outs(%c : tensor<128xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %a = arith.addf %v, %acc : f32
    linalg.yield %a : f32
  } -> tensor<128xf32>
  %2 = linalg.generic {indexing_maps = [#rows_in, #rows_out], iterator_types = ["parallel", "reduction"]}
      ins(%small : tensor<64x64xf32>) outs(%s : tensor<64xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %a = arith.addf %v, %acc : f32
    linalg.yield %a : f32
  } -> tensor<64xf32>
  return %0, %1, %2 : tensor<1024xf32>, tensor<128xf32>, tensor<64xf32>
}
