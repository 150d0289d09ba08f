// RUN: %zephyr-opt --zephyr-approximate-math %s | FileCheck %s --check-prefix=POLY
// RUN: %zephyr-opt --zephyr-math-to-libm %s | FileCheck %s --check-prefix=LIBM
// f32 exp becomes an inline polynomial; f64 tanh, which has none, becomes a libm call.

// POLY-LABEL: func.func @f32_exp
// POLY-NOT: math.exp
// POLY: math.fma
func.func @f32_exp(%x: f32) -> f32 {
  %0 = math.exp %x : f32
  return %0 : f32
}

// LIBM-LABEL: func.func @f64_tanh
// LIBM: call @tanh
func.func @f64_tanh(%x: f64) -> f64 {
  %0 = math.tanh %x : f64
  return %0 : f64
}
