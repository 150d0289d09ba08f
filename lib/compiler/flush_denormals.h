// Subnormal floats flushed to zero while compiled code runs (Options::flush_denormals).
//
// On x86 an operation whose input or result is subnormal takes a microcode assist, about a
// hundred cycles on Intel cores. A training run's weights, gradients and Adam moments drift into
// that range as they decay: the main job (5 epochs of the Fashion-MNIST MLP) ran its later epochs
// at 18k examples/s instead of 30k on an Intel Xeon, 18.6 s against 11.4 s flushed. XLA and
// TensorFlow flush on CPU for the same reason.
//
// The caller's MXCSR is set for the run and restored after it, so the caller's own arithmetic
// keeps gradual underflow (the exception flags the run raised go with it: nothing reads them).
// OpenMP's workers take the MXCSR of the thread that starts a parallel region (libomp's
// KMP_INHERIT_FP_CONTROL, on by default), so kernels split over threads flush too.
#pragma once

#if defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
#endif

namespace zephyr::compiler {

class FlushDenormals {
 public:
  explicit FlushDenormals(bool on) {
#if defined(__x86_64__) || defined(_M_X64)
    if (!on) return;
    saved_ = _mm_getcsr();
    if ((saved_ & kBits) == kBits) return;  // the caller flushes already: nothing to restore
    _mm_setcsr(saved_ | kBits);
    restore_ = true;
#else
    (void)on;
#endif
  }
  ~FlushDenormals() {
#if defined(__x86_64__) || defined(_M_X64)
    if (restore_) _mm_setcsr(saved_);
#endif
  }
  FlushDenormals(const FlushDenormals&) = delete;
  FlushDenormals& operator=(const FlushDenormals&) = delete;

  /// MXCSR's flush-to-zero (results, bit 15) and denormals-are-zero (inputs, bit 6).
  static constexpr unsigned kBits = 0x8040;

 private:
  unsigned saved_ = 0;
  bool restore_ = false;
};

}  // namespace zephyr::compiler
