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
