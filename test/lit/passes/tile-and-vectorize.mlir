// RUN: %zephyr-opt --zephyr-tile-and-vectorize %s | FileCheck %s
// RUN: %zephyr-opt --zephyr-tile-and-vectorize=threads=2 %s | FileCheck %s --check-prefix=SPLIT
// transforms.mlir tiles a matmul for cache and registers and turns it into broadcast + FMA; one
// marked zephyr.parallel is first split into a row block per thread.

// CHECK-LABEL: func.func @mm
// CHECK: scf.for
// CHECK: vector.contract
// CHECK-NOT: linalg.matmul
// SPLIT-LABEL: func.func @mm
// SPLIT: scf.forall ({{.*}}) in (2)
// SPLIT: vector.contract
func.func @mm(%a: tensor<128x64xf32>, %b: tensor<64x64xf32>, %c: tensor<128x64xf32>) -> tensor<128x64xf32> {
  %0 = linalg.matmul {zephyr.parallel} ins(%a, %b : tensor<128x64xf32>, tensor<64x64xf32>) outs(%c : tensor<128x64xf32>) -> tensor<128x64xf32>
  return %0 : tensor<128x64xf32>
}
