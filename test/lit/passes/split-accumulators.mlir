// RUN: %zephyr-opt --zephyr-split-accumulators %s | FileCheck %s
// A matrix-vector tile's k loop (marked zephyr.matvec_k by transforms.mlir) that carries a few
// registers of accumulator through one FMA per step is unrolled with 2, 3 or 4 accumulators, added
// pairwise after the loop, and the mark removed. Loops that already keep 8 registers busy, whose
// trip count no factor divides, that read the accumulator elsewhere, or are not marked (a
// matmul tile's remainder row) are left alone.

// Ten logits (one register), 512 steps: four accumulators, the first starting from the bias.
// CHECK-LABEL: func.func @logits
// CHECK-DAG: %[[ZERO:.*]] = arith.constant dense<0.000000e+00> : vector<1x10xf32>
// CHECK-DAG: %[[FOUR:.*]] = arith.constant 4 : index
// CHECK: %[[R:.*]]:4 = scf.for %[[K:.*]] = %{{.*}} to %{{.*}} step %[[FOUR]] iter_args(%[[A0:.*]] = %arg2, %[[A1:.*]] = %[[ZERO]], %[[A2:.*]] = %[[ZERO]], %[[A3:.*]] = %[[ZERO]])
// CHECK: vector.extract %[[A0]][0]
// CHECK: vector.fma
// CHECK: arith.addi %[[K]]
// CHECK: vector.extract %[[A1]][0]
// CHECK: vector.fma
// CHECK: vector.extract %[[A2]][0]
// CHECK: vector.fma
// CHECK: vector.extract %[[A3]][0]
// CHECK: vector.fma
// CHECK: scf.yield
// CHECK: %[[S0:.*]] = arith.addf %[[R]]#0, %[[R]]#1
// CHECK: %[[S1:.*]] = arith.addf %[[R]]#2, %[[R]]#3
// CHECK: %[[S:.*]] = arith.addf %[[S0]], %[[S1]]
// CHECK-NOT: zephyr.matvec_k
// CHECK: return %[[S]]
func.func @logits(%x: tensor<512xf32>, %w: tensor<512x10xf32>, %bias: vector<1x10xf32>) -> vector<1x10xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c512 = arith.constant 512 : index
  %pad = arith.constant 0.0 : f32
  %r = scf.for %k = %c0 to %c512 step %c1 iter_args(%acc = %bias) -> (vector<1x10xf32>) {
    %a = vector.transfer_read %x[%k], %pad {in_bounds = [true]} : tensor<512xf32>, vector<1xf32>
    %b = vector.transfer_read %w[%k, %c0], %pad {in_bounds = [true]} : tensor<512x10xf32>, vector<10xf32>
    %s = vector.extract %a[0] : f32 from vector<1xf32>
    %sb = vector.broadcast %s : f32 to vector<10xf32>
    %row = vector.extract %acc[0] : vector<10xf32> from vector<1x10xf32>
    %f = vector.fma %sb, %b, %row : vector<10xf32>
    %next = vector.broadcast %f : vector<10xf32> to vector<1x10xf32>
    scf.yield %next : vector<1x10xf32>
  } {zephyr.matvec_k}
  return %r : vector<1x10xf32>
}

// 64 columns are four registers: two accumulators make eight.
// CHECK-LABEL: func.func @row_of_64
// CHECK: %[[R:.*]]:2 = scf.for
// CHECK-COUNT-2: vector.fma
// CHECK: %[[S:.*]] = arith.addf %[[R]]#0, %[[R]]#1
// CHECK: return %[[S]]
func.func @row_of_64(%x: tensor<64xf32>, %w: tensor<64x64xf32>, %init: vector<64xf32>) -> vector<64xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %pad = arith.constant 0.0 : f32
  %r = scf.for %k = %c0 to %c64 step %c1 iter_args(%acc = %init) -> (vector<64xf32>) {
    %a = vector.transfer_read %x[%k], %pad {in_bounds = [true]} : tensor<64xf32>, vector<1xf32>
    %b = vector.transfer_read %w[%k, %c0], %pad {in_bounds = [true]} : tensor<64x64xf32>, vector<64xf32>
    %s = vector.extract %a[0] : f32 from vector<1xf32>
    %sb = vector.broadcast %s : f32 to vector<64xf32>
    %f = vector.fma %sb, %b, %acc : vector<64xf32>
    scf.yield %f : vector<64xf32>
  } {zephyr.matvec_k}
  return %r : vector<64xf32>
}

// 256 columns already keep 16 registers in flight.
// CHECK-LABEL: func.func @row_of_256
// CHECK: scf.for {{.*}} iter_args({{[^,]*}}) -> (vector<256xf32>)
// CHECK-NOT: arith.addf
// CHECK: return
func.func @row_of_256(%x: tensor<64xf32>, %w: tensor<64x256xf32>, %init: vector<256xf32>) -> vector<256xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %pad = arith.constant 0.0 : f32
  %r = scf.for %k = %c0 to %c64 step %c1 iter_args(%acc = %init) -> (vector<256xf32>) {
    %a = vector.transfer_read %x[%k], %pad {in_bounds = [true]} : tensor<64xf32>, vector<1xf32>
    %b = vector.transfer_read %w[%k, %c0], %pad {in_bounds = [true]} : tensor<64x256xf32>, vector<256xf32>
    %s = vector.extract %a[0] : f32 from vector<1xf32>
    %sb = vector.broadcast %s : f32 to vector<256xf32>
    %f = vector.fma %sb, %b, %acc : vector<256xf32>
    scf.yield %f : vector<256xf32>
  } {zephyr.matvec_k}
  return %r : vector<256xf32>
}

// 7 steps: no factor from 2 to 4 divides them.
// CHECK-LABEL: func.func @seven_steps
// CHECK: scf.for {{.*}} iter_args({{[^,]*}}) -> (vector<16xf32>)
// CHECK-NOT: arith.addf
// CHECK: return
func.func @seven_steps(%x: tensor<7xf32>, %w: tensor<7x16xf32>, %init: vector<16xf32>) -> vector<16xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c7 = arith.constant 7 : index
  %pad = arith.constant 0.0 : f32
  %r = scf.for %k = %c0 to %c7 step %c1 iter_args(%acc = %init) -> (vector<16xf32>) {
    %a = vector.transfer_read %x[%k], %pad {in_bounds = [true]} : tensor<7xf32>, vector<1xf32>
    %b = vector.transfer_read %w[%k, %c0], %pad {in_bounds = [true]} : tensor<7x16xf32>, vector<16xf32>
    %s = vector.extract %a[0] : f32 from vector<1xf32>
    %sb = vector.broadcast %s : f32 to vector<16xf32>
    %f = vector.fma %sb, %b, %acc : vector<16xf32>
    scf.yield %f : vector<16xf32>
  } {zephyr.matvec_k}
  return %r : vector<16xf32>
}

// The accumulator also scales the step's product: not a sum of independent terms.
// CHECK-LABEL: func.func @reads_accumulator
// CHECK: scf.for {{.*}} iter_args({{[^,]*}}) -> (vector<16xf32>)
// CHECK-NOT: arith.addf
// CHECK: return
func.func @reads_accumulator(%w: tensor<8x16xf32>, %init: vector<16xf32>) -> vector<16xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %pad = arith.constant 0.0 : f32
  %r = scf.for %k = %c0 to %c8 step %c1 iter_args(%acc = %init) -> (vector<16xf32>) {
    %b = vector.transfer_read %w[%k, %c0], %pad {in_bounds = [true]} : tensor<8x16xf32>, vector<16xf32>
    %f = vector.fma %acc, %b, %acc : vector<16xf32>
    scf.yield %f : vector<16xf32>
  } {zephyr.matvec_k}
  return %r : vector<16xf32>
}

// A loop that stores each step is not reordered.
// CHECK-LABEL: func.func @stores
// CHECK: scf.for {{.*}} iter_args({{[^,]*}}) -> (vector<16xf32>)
// CHECK-NOT: arith.addf
// CHECK: return
func.func @stores(%w: memref<8x16xf32>, %init: vector<16xf32>) -> vector<16xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %pad = arith.constant 0.0 : f32
  %r = scf.for %k = %c0 to %c8 step %c1 iter_args(%acc = %init) -> (vector<16xf32>) {
    %b = vector.transfer_read %w[%k, %c0], %pad {in_bounds = [true]} : memref<8x16xf32>, vector<16xf32>
    %f = vector.fma %b, %b, %acc : vector<16xf32>
    vector.transfer_write %f, %w[%k, %c0] {in_bounds = [true]} : vector<16xf32>, memref<8x16xf32>
    scf.yield %f : vector<16xf32>
  } {zephyr.matvec_k}
  return %r : vector<16xf32>
}

// The same loop as @row_of_64, unmarked.
// CHECK-LABEL: func.func @unmarked
// CHECK: scf.for {{.*}} iter_args({{[^,]*}}) -> (vector<64xf32>)
// CHECK-NOT: arith.addf
// CHECK: return
func.func @unmarked(%x: tensor<64xf32>, %w: tensor<64x64xf32>, %init: vector<64xf32>) -> vector<64xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %pad = arith.constant 0.0 : f32
  %r = scf.for %k = %c0 to %c64 step %c1 iter_args(%acc = %init) -> (vector<64xf32>) {
    %a = vector.transfer_read %x[%k], %pad {in_bounds = [true]} : tensor<64xf32>, vector<1xf32>
    %b = vector.transfer_read %w[%k, %c0], %pad {in_bounds = [true]} : tensor<64x64xf32>, vector<64xf32>
    %s = vector.extract %a[0] : f32 from vector<1xf32>
    %sb = vector.broadcast %s : f32 to vector<64xf32>
    %f = vector.fma %sb, %b, %acc : vector<64xf32>
    scf.yield %f : vector<64xf32>
  }
  return %r : vector<64xf32>
}
