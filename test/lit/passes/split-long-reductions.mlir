// RUN: %zephyr-opt --zephyr-split-long-reductions %s | FileCheck %s
// A product with a small C and a long k (a convolution's weight gradient), and a sum whose first
// loop is a long reduction (a bias gradient over the batch), become 8 partial results over chunks
// of that loop, then the init plus the partials in chunk order. 8, not the thread count: every
// thread count computes the same bits.

// CHECK-LABEL: func.func @weight_gradient
// CHECK: %[[ZEROS:.*]] = linalg.fill {{.*}} -> tensor<8x9x32xf32>
// CHECK: %[[PARTIALS:.*]] = scf.forall (%[[G:.*]]) in (8) shared_outs(%[[OUT:.*]] = %[[ZEROS]])
// CHECK: %[[K:.*]] = arith.muli %[[G]], %c6272
// CHECK: %[[A:.*]] = tensor.extract_slice %arg0[%[[K]], 0] [6272, 9] [1, 1]
// CHECK: %[[B:.*]] = tensor.extract_slice %arg1[%[[K]], 0] [6272, 32] [1, 1]
// CHECK: %[[INTO:.*]] = tensor.extract_slice %[[OUT]][%[[G]], 0, 0] [1, 9, 32] [1, 1, 1] : tensor<8x9x32xf32> to tensor<9x32xf32>
// CHECK: %[[P:.*]] = linalg.matmul_transpose_a ins(%[[A]], %[[B]] : tensor<6272x9xf32>, tensor<6272x32xf32>) outs(%[[INTO]] : tensor<9x32xf32>)
// CHECK: tensor.parallel_insert_slice %[[P]] into %[[OUT]][%[[G]], 0, 0] [1, 9, 32] [1, 1, 1]
// CHECK: %[[SUM:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[PARTIALS]] : tensor<8x9x32xf32>) outs(%arg2 : tensor<9x32xf32>)
// CHECK: return %[[SUM]]
func.func @weight_gradient(%a: tensor<50176x9xf32>, %b: tensor<50176x32xf32>, %c: tensor<9x32xf32>) -> tensor<9x32xf32> {
  %0 = linalg.matmul_transpose_a ins(%a, %b : tensor<50176x9xf32>, tensor<50176x32xf32>) outs(%c : tensor<9x32xf32>) -> tensor<9x32xf32>
  return %0 : tensor<9x32xf32>
}

// A·B: a chunk of k is a block of A's columns.
// CHECK-LABEL: func.func @plain_product
// CHECK: scf.forall
// CHECK: tensor.extract_slice %arg0[0, %{{.*}}] [5, 2048] [1, 1]
// CHECK: linalg.matmul ins({{.*}} : tensor<5x2048xf32>, tensor<2048x7xf32>)
func.func @plain_product(%a: tensor<5x16384xf32>, %b: tensor<16384x7xf32>, %c: tensor<5x7xf32>) -> tensor<5x7xf32> {
  %0 = linalg.matmul ins(%a, %b : tensor<5x16384xf32>, tensor<16384x7xf32>) outs(%c : tensor<5x7xf32>) -> tensor<5x7xf32>
  return %0 : tensor<5x7xf32>
}

// Left alone: a short k (the MLP's weight gradients), a C the row split shares out, a k that
// does not divide into 8 chunks.
// CHECK-LABEL: func.func @left_alone
// CHECK-NOT: scf.forall
// CHECK-COUNT-3: linalg.matmul_transpose_a ins
// CHECK-NOT: scf.forall
func.func @left_alone(%a: tensor<4096x9xf32>, %b: tensor<4096x32xf32>, %c: tensor<9x32xf32>,
                      %a2: tensor<12544x288xf32>, %b2: tensor<12544x64xf32>, %c2: tensor<288x64xf32>,
                      %a3: tensor<50177x9xf32>, %b3: tensor<50177x32xf32>) -> (tensor<9x32xf32>, tensor<288x64xf32>, tensor<9x32xf32>) {
  %0 = linalg.matmul_transpose_a ins(%a, %b : tensor<4096x9xf32>, tensor<4096x32xf32>) outs(%c : tensor<9x32xf32>) -> tensor<9x32xf32>
  %1 = linalg.matmul_transpose_a ins(%a2, %b2 : tensor<12544x288xf32>, tensor<12544x64xf32>) outs(%c2 : tensor<288x64xf32>) -> tensor<288x64xf32>
  %2 = linalg.matmul_transpose_a ins(%a3, %b3 : tensor<50177x9xf32>, tensor<50177x32xf32>) outs(%c : tensor<9x32xf32>) -> tensor<9x32xf32>
  return %0, %1, %2 : tensor<9x32xf32>, tensor<288x64xf32>, tensor<9x32xf32>
}

// A bias gradient: the images split into 8 chunks of 8, the partial sums' first loop parallel.
// The body (here a square fused into the sum) is the sum's own.
// CHECK-LABEL: func.func @bias_gradient
// CHECK: %[[SPLIT:.*]] = tensor.expand_shape %arg0 {{\[}}[0, 1], [2], [3], [4]] {{.*}} : tensor<64x28x28x32xf32> into tensor<8x8x28x28x32xf32>
// CHECK: %[[ZEROS:.*]] = linalg.fill {{.*}} -> tensor<8x32xf32>
// CHECK: %[[PARTIALS:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction", "reduction", "reduction", "parallel"]} ins(%[[SPLIT]] : tensor<8x8x28x28x32xf32>) outs(%[[ZEROS]] : tensor<8x32xf32>)
// CHECK: arith.mulf
// CHECK: arith.addf {{.*}} fastmath<reassoc>
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]} ins(%[[PARTIALS]] : tensor<8x32xf32>) outs(%arg1 : tensor<32xf32>)
#sum_in = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#sum_out = affine_map<(d0, d1, d2, d3) -> (d3)>
func.func @bias_gradient(%x: tensor<64x28x28x32xf32>, %init: tensor<32xf32>) -> tensor<32xf32> {
  %0 = linalg.generic {indexing_maps = [#sum_in, #sum_out], iterator_types = ["reduction", "reduction", "reduction", "parallel"]}
      ins(%x : tensor<64x28x28x32xf32>) outs(%init : tensor<32xf32>) {
  ^bb0(%in: f32, %out: f32):
    %sq = arith.mulf %in, %in : f32
    %s = arith.addf %sq, %out fastmath<reassoc> : f32
    linalg.yield %s : f32
  } -> tensor<32xf32>
  return %0 : tensor<32xf32>
}

// Left alone: a sum too small to share (the MLP's bias gradients), one whose first loop does
// not divide into chunks, a maximum (not a sum).
// CHECK-LABEL: func.func @sums_left_alone
// CHECK-NOT: tensor.expand_shape
// CHECK-COUNT-3: linalg.generic {{.*}}iterator_types = ["reduction", "parallel"]}
#rows_in = affine_map<(d0, d1) -> (d0, d1)>
#rows_out = affine_map<(d0, d1) -> (d1)>
func.func @sums_left_alone(%small: tensor<128x512xf32>, %odd: tensor<4099x512xf32>, %init: tensor<512xf32>)
    -> (tensor<512xf32>, tensor<512xf32>, tensor<512xf32>) {
  %0 = linalg.generic {indexing_maps = [#rows_in, #rows_out], iterator_types = ["reduction", "parallel"]}
      ins(%small : tensor<128x512xf32>) outs(%init : tensor<512xf32>) {
  ^bb0(%in: f32, %out: f32):
    %s = arith.addf %in, %out : f32
    linalg.yield %s : f32
  } -> tensor<512xf32>
  %1 = linalg.generic {indexing_maps = [#rows_in, #rows_out], iterator_types = ["reduction", "parallel"]}
      ins(%odd : tensor<4099x512xf32>) outs(%init : tensor<512xf32>) {
  ^bb0(%in: f32, %out: f32):
    %s = arith.addf %in, %out : f32
    linalg.yield %s : f32
  } -> tensor<512xf32>
  %2 = linalg.generic {indexing_maps = [#rows_in, #rows_out], iterator_types = ["reduction", "parallel"]}
      ins(%odd : tensor<4099x512xf32>) outs(%init : tensor<512xf32>) {
  ^bb0(%in: f32, %out: f32):
    %s = arith.maximumf %in, %out : f32
    linalg.yield %s : f32
  } -> tensor<512xf32>
  return %0, %1, %2 : tensor<512xf32>, tensor<512xf32>, tensor<512xf32>
}

// Left alone inside a loop: a packed product's panels are an scf.for on one thread and an
// scf.forall on several; splitting one and not the other would make bits depend on the count.
// CHECK-LABEL: func.func @inside_a_loop
// CHECK: scf.for
// CHECK-NOT: scf.forall
// CHECK: linalg.matmul_transpose_a ins({{.*}} : tensor<50176x9xf32>, tensor<50176x32xf32>)
func.func @inside_a_loop(%a: tensor<50176x9xf32>, %b: tensor<50176x32xf32>, %c: tensor<9x32xf32>) -> tensor<9x32xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %r = scf.for %i = %c0 to %c2 step %c1 iter_args(%acc = %c) -> (tensor<9x32xf32>) {
    %0 = linalg.matmul_transpose_a ins(%a, %b : tensor<50176x9xf32>, tensor<50176x32xf32>) outs(%acc : tensor<9x32xf32>) -> tensor<9x32xf32>
    scf.yield %0 : tensor<9x32xf32>
  }
  return %r : tensor<9x32xf32>
}
