// RUN: %zephyr-opt --zephyr-pack-aliased-rhs %s | FileCheck %s
// RUN: %zephyr-opt --zephyr-pack-aliased-rhs=threads=2 %s | FileCheck %s --check-prefix=SHARED
// A product of 256 rows or more whose B is larger than L2 and has rows that collide in L1 (1024
// f32 columns: 4 KB apart) reads B from a copy in (k, 32) panels: one product per panel into its
// 32 columns of C. On several threads the panels are shared out, each product whole.

// CHECK-LABEL: func.func @aliased
// CHECK: %[[PANELS:.*]] = linalg.generic {{.*}} ins(%{{.*}} : tensor<300x32x32xf32>) outs(%{{.*}} : tensor<32x300x32xf32>)
// CHECK: scf.for %[[P:.*]] = %{{.*}} to %{{.*}} step
// CHECK: %[[PANEL:.*]] = tensor.extract_slice %[[PANELS]][%[[P]], 0, 0] [1, 300, 32] [1, 1, 1] : tensor<32x300x32xf32> to tensor<300x32xf32>
// CHECK: linalg.matmul ins(%arg0, %[[PANEL]] : tensor<256x300xf32>, tensor<300x32xf32>) outs(%{{.*}} : tensor<256x32xf32>)
// CHECK: tensor.insert_slice
// SHARED-LABEL: func.func @aliased
// SHARED: scf.forall (%{{.*}}) in (32)
// SHARED: linalg.matmul ins(%arg0, %{{.*}} : tensor<256x300xf32>, tensor<300x32xf32>)
// SHARED: tensor.parallel_insert_slice
func.func @aliased(%a: tensor<256x300xf32>, %b: tensor<300x1024xf32>, %c: tensor<256x1024xf32>) -> tensor<256x1024xf32> {
  %0 = linalg.matmul ins(%a, %b : tensor<256x300xf32>, tensor<300x1024xf32>) outs(%c : tensor<256x1024xf32>) -> tensor<256x1024xf32>
  return %0 : tensor<256x1024xf32>
}

// Left alone: too few rows to pay for the copy; B within L2; B's rows spread over L1 (1000
// columns).
// CHECK-LABEL: func.func @left_alone
// CHECK-NOT: scf.for
// CHECK-COUNT-3: linalg.matmul ins
func.func @left_alone(%a: tensor<128x300xf32>, %b: tensor<300x1024xf32>, %c: tensor<128x1024xf32>,
                      %a2: tensor<512x128xf32>, %b2: tensor<128x1024xf32>, %c2: tensor<512x1024xf32>,
                      %b3: tensor<300x1000xf32>, %c3: tensor<256x1000xf32>, %a3: tensor<256x300xf32>)
    -> (tensor<128x1024xf32>, tensor<512x1024xf32>, tensor<256x1000xf32>) {
  %0 = linalg.matmul ins(%a, %b : tensor<128x300xf32>, tensor<300x1024xf32>) outs(%c : tensor<128x1024xf32>) -> tensor<128x1024xf32>
  %1 = linalg.matmul ins(%a2, %b2 : tensor<512x128xf32>, tensor<128x1024xf32>) outs(%c2 : tensor<512x1024xf32>) -> tensor<512x1024xf32>
  %2 = linalg.matmul ins(%a3, %b3 : tensor<256x300xf32>, tensor<300x1000xf32>) outs(%c3 : tensor<256x1000xf32>) -> tensor<256x1000xf32>
  return %0, %1, %2 : tensor<128x1024xf32>, tensor<512x1024xf32>, tensor<256x1000xf32>
}
