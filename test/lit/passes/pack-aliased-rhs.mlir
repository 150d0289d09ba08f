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

// A·Bᵀ (an input gradient, dY·Wᵀ) whose Bᵀ has rows that collide in L1 (512 columns: 2 KB
// apart), at any size and from 64 rows: W was transposed for this product alone, so the
// transpose writes the panels itself (W as 16 blocks of 32 rows, each transposed) and nothing
// else is copied.
// CHECK-LABEL: func.func @transposed
// CHECK: %[[BLOCKS:.*]] = tensor.expand_shape %arg1 {{\[}}[0, 1], [2]] {{.*}} : tensor<512x784xf32> into tensor<16x32x784xf32>
// CHECK: %[[PANELS:.*]] = linalg.transpose ins(%[[BLOCKS]] : tensor<16x32x784xf32>) outs(%{{.*}} : tensor<16x784x32xf32>) permutation = [0, 2, 1]
// CHECK-NOT: linalg.transpose
// CHECK: scf.for
// CHECK: tensor.extract_slice %[[PANELS]]
// CHECK: linalg.matmul ins(%arg0, %{{.*}} : tensor<128x784xf32>, tensor<784x32xf32>)
// SHARED-LABEL: func.func @transposed
// SHARED: scf.forall (%{{.*}}) in (16)
func.func @transposed(%a: tensor<128x784xf32>, %w: tensor<512x784xf32>, %c: tensor<128x512xf32>) -> tensor<128x512xf32> {
  %e = tensor.empty() : tensor<784x512xf32>
  %t = linalg.transpose ins(%w : tensor<512x784xf32>) outs(%e : tensor<784x512xf32>) permutation = [1, 0]
  %0 = linalg.matmul ins(%a, %t : tensor<128x784xf32>, tensor<784x512xf32>) outs(%c : tensor<128x512xf32>) -> tensor<128x512xf32>
  return %0 : tensor<128x512xf32>
}

// Left alone: Bᵀ's rows spread over L1 (288 columns, the CNN's patch weights: each panel's
// product would read all of A again); fewer than 64 rows; W transposed for two products.
// CHECK-LABEL: func.func @transposed_left_alone
// CHECK-NOT: tensor.expand_shape
// CHECK-NOT: scf.for
// CHECK-COUNT-3: linalg.transpose ins
func.func @transposed_left_alone(%a: tensor<12544x64xf32>, %w: tensor<288x64xf32>, %c: tensor<12544x288xf32>,
                                 %a2: tensor<32x784xf32>, %w2: tensor<512x784xf32>, %c2: tensor<32x512xf32>,
                                 %a3: tensor<128x784xf32>, %c3: tensor<128x512xf32>)
    -> (tensor<12544x288xf32>, tensor<32x512xf32>, tensor<128x512xf32>, tensor<128x512xf32>) {
  %e = tensor.empty() : tensor<64x288xf32>
  %t = linalg.transpose ins(%w : tensor<288x64xf32>) outs(%e : tensor<64x288xf32>) permutation = [1, 0]
  %0 = linalg.matmul ins(%a, %t : tensor<12544x64xf32>, tensor<64x288xf32>) outs(%c : tensor<12544x288xf32>) -> tensor<12544x288xf32>
  %e2 = tensor.empty() : tensor<784x512xf32>
  %t2 = linalg.transpose ins(%w2 : tensor<512x784xf32>) outs(%e2 : tensor<784x512xf32>) permutation = [1, 0]
  %1 = linalg.matmul ins(%a2, %t2 : tensor<32x784xf32>, tensor<784x512xf32>) outs(%c2 : tensor<32x512xf32>) -> tensor<32x512xf32>
  %e3 = tensor.empty() : tensor<784x512xf32>
  %t3 = linalg.transpose ins(%w2 : tensor<512x784xf32>) outs(%e3 : tensor<784x512xf32>) permutation = [1, 0]
  %2 = linalg.matmul ins(%a3, %t3 : tensor<128x784xf32>, tensor<784x512xf32>) outs(%c3 : tensor<128x512xf32>) -> tensor<128x512xf32>
  %3 = linalg.matmul ins(%a3, %t3 : tensor<128x784xf32>, tensor<784x512xf32>) outs(%c3 : tensor<128x512xf32>) -> tensor<128x512xf32>
  return %0, %1, %2, %3 : tensor<12544x288xf32>, tensor<32x512xf32>, tensor<128x512xf32>, tensor<128x512xf32>
}
