// RUN: %zephyr-opt --zephyr-separate-returned-buffers %s | FileCheck %s
// A buffer returned twice, or an argument returned, is copied so each result is fresh (else
// buffer-results-to-out-params would fail).

// CHECK-LABEL: func.func @twice
// CHECK: %[[A:.*]] = memref.alloc() : memref<4xf32>
// CHECK: %[[B:.*]] = memref.alloc() : memref<4xf32>
// CHECK: linalg.copy ins(%[[A]] : memref<4xf32>) outs(%[[B]] : memref<4xf32>)
// CHECK: %[[C:.*]] = memref.alloc() : memref<4xf32>
// CHECK: linalg.copy ins(%arg0 : memref<4xf32>) outs(%[[C]] : memref<4xf32>)
// CHECK: return %[[A]], %[[B]], %[[C]]
func.func @twice(%arg0: memref<4xf32>) -> (memref<4xf32>, memref<4xf32>, memref<4xf32>) {
  %a = memref.alloc() : memref<4xf32>
  return %a, %a, %arg0 : memref<4xf32>, memref<4xf32>, memref<4xf32>
}

// A buffer returned through a reshape is allocated in the result's shape, and written through
// the inverse reshape: buffer-results-to-out-params then makes it the out-parameter, no copy.
// CHECK-LABEL: func.func @reshaped
// CHECK: %[[R:.*]] = memref.alloc() {alignment = 64 : i64} : memref<4x6xf32>
// CHECK: %[[V:.*]] = memref.expand_shape %[[R]] {{\[\[}}0], [1, 2]] output_shape [4, 3, 2] : memref<4x6xf32> into memref<4x3x2xf32>
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%[[V]] : memref<4x3x2xf32>)
// CHECK-NOT: linalg.copy
// CHECK: %[[E:.*]] = memref.alloc() : memref<8x1xf32>
// CHECK: memref.collapse_shape %[[E]] {{\[\[}}0, 1]] : memref<8x1xf32> into memref<8xf32>
// CHECK: return %[[R]], %[[E]]
func.func @reshaped(%x: f32) -> (memref<4x6xf32>, memref<8x1xf32>) {
  %a = memref.alloc() {alignment = 64 : i64} : memref<4x3x2xf32>
  linalg.fill ins(%x : f32) outs(%a : memref<4x3x2xf32>)
  %r = memref.collapse_shape %a [[0], [1, 2]] : memref<4x3x2xf32> into memref<4x6xf32>
  %b = memref.alloc() : memref<8xf32>
  linalg.fill ins(%x : f32) outs(%b : memref<8xf32>)
  %e = memref.expand_shape %b [[0, 1]] output_shape [8, 1] : memref<8xf32> into memref<8x1xf32>
  return %r, %e : memref<4x6xf32>, memref<8x1xf32>
}
