// RUN: %zephyr-opt --zephyr-fuse-elementwise %s | FileCheck %s
// Bias add and ReLU become one nest after the matmul, which stays a linalg.matmul.

#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d1)>
// CHECK-LABEL: func.func @dense
// CHECK: linalg.matmul
// CHECK: linalg.generic
// CHECK: arith.addf
// CHECK: arith.maximumf
// CHECK-NOT: linalg.generic
// CHECK: return
func.func @dense(%x: tensor<8x16xf32>, %w: tensor<16x4xf32>, %b: tensor<4xf32>) -> tensor<8x4xf32> {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<8x4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%empty : tensor<8x4xf32>) -> tensor<8x4xf32>
  %mm = linalg.matmul ins(%x, %w : tensor<8x16xf32>, tensor<16x4xf32>) outs(%acc : tensor<8x4xf32>) -> tensor<8x4xf32>
  %biased = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%mm, %b : tensor<8x4xf32>, tensor<4xf32>) outs(%empty : tensor<8x4xf32>) {
  ^bb0(%m: f32, %c: f32, %o: f32):
    %s = arith.addf %m, %c : f32
    linalg.yield %s : f32
  } -> tensor<8x4xf32>
  %relu = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%biased : tensor<8x4xf32>) outs(%empty : tensor<8x4xf32>) {
  ^bb0(%v: f32, %o: f32):
    %r = arith.maximumf %v, %zero : f32
    linalg.yield %r : f32
  } -> tensor<8x4xf32>
  return %relu : tensor<8x4xf32>
}

// A value that is returned and read by one elementwise consumer (Adam's new moment, which the
// parameter update reads) is computed in the consumer's loop, which yields both: one generic with
// two results, not a copy fused into the consumer and the original kept for the return.
// CHECK-LABEL: func.func @returned_and_read
// CHECK: %[[BOTH:.*]]:2 = linalg.generic
// CHECK: arith.mulf
// CHECK: arith.subf
// CHECK-NOT: linalg.generic
// CHECK: return %[[BOTH]]#{{[01]}}, %[[BOTH]]#{{[01]}}
func.func @returned_and_read(%m: tensor<8x4xf32>, %p: tensor<8x4xf32>) -> (tensor<8x4xf32>, tensor<8x4xf32>) {
  %half = arith.constant 0.5 : f32
  %empty = tensor.empty() : tensor<8x4xf32>
  %m2 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m : tensor<8x4xf32>) outs(%empty : tensor<8x4xf32>) {
  ^bb0(%v: f32, %o: f32):
    %s = arith.mulf %v, %half : f32
    linalg.yield %s : f32
  } -> tensor<8x4xf32>
  %p2 = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%p, %m2 : tensor<8x4xf32>, tensor<8x4xf32>) outs(%empty : tensor<8x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %d = arith.subf %a, %b : f32
    linalg.yield %d : f32
  } -> tensor<8x4xf32>
  return %p2, %m2 : tensor<8x4xf32>, tensor<8x4xf32>
}

// Read by two consumers, the value stays its own generic (fused into both, it would be computed
// twice, and chains of such values could grow without bound).
// CHECK-LABEL: func.func @read_twice
// CHECK-COUNT-3: linalg.generic
// CHECK: return
func.func @read_twice(%m: tensor<8x4xf32>, %p: tensor<8x4xf32>) -> (tensor<8x4xf32>, tensor<8x4xf32>) {
  %half = arith.constant 0.5 : f32
  %empty = tensor.empty() : tensor<8x4xf32>
  %m2 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m : tensor<8x4xf32>) outs(%empty : tensor<8x4xf32>) {
  ^bb0(%v: f32, %o: f32):
    %s = arith.mulf %v, %half : f32
    linalg.yield %s : f32
  } -> tensor<8x4xf32>
  %a2 = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%p, %m2 : tensor<8x4xf32>, tensor<8x4xf32>) outs(%empty : tensor<8x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %d = arith.subf %a, %b : f32
    linalg.yield %d : f32
  } -> tensor<8x4xf32>
  %b2 = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%p, %m2 : tensor<8x4xf32>, tensor<8x4xf32>) outs(%empty : tensor<8x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %d = arith.addf %a, %b : f32
    linalg.yield %d : f32
  } -> tensor<8x4xf32>
  return %a2, %b2 : tensor<8x4xf32>, tensor<8x4xf32>
}
