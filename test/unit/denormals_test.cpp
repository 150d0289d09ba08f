// Options::flush_denormals: compiled runs flush subnormal floats to zero (lib/compiler/
// flush_denormals.h), on one thread and on OpenMP's workers, and leave the caller's MXCSR as it was.
// With the option off, and in the interpreter, results underflow gradually as IEEE says.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <zephyr/zephyr.h>

#if defined(__x86_64__)
#include <xmmintrin.h>

namespace z = zephyr;

namespace {

constexpr unsigned kFlushBits = 0x8040;  // MXCSR: flush-to-zero, denormals-are-zero

// MXCSR without its sticky exception flags (bits 0-5), which any arithmetic may raise.
unsigned mxcsr_controls() { return _mm_getcsr() & ~0x3Fu; }

z::compiler::Options with(bool flush, int threads, bool kernels = true) {
  z::compiler::Options o;
  o.flush_denormals = flush;
  o.threads = threads;
  o.kernels = kernels;
  return o;
}

// Every element of `a` equals `want` (exactly: zero, or the one subnormal 1e-40f).
void check_all(const z::Array& a, float want, const std::string& what) {
  int64_t wrong = 0;
  for (int64_t i = 0; i < a.size(); ++i) wrong += a.data<float>()[i] != want;
  CHECK_MESSAGE(wrong == 0, what, ": ", wrong, " of ", a.size(), " elements differ from ", want);
}

}  // namespace

TEST_CASE("flush_denormals: subnormal results and inputs are zero in compiled runs, kept with the option off") {
  const float tiny = 1e-20f, subnormal = 1e-40f;  // tiny * tiny underflows below 1.2e-38
  REQUIRE(std::fpclassify(subnormal) == FP_SUBNORMAL);
  REQUIRE(std::fpclassify(tiny * tiny) == FP_SUBNORMAL);  // this thread does not flush
  // 2^18 elements: split over two threads, so OpenMP's workers compute half of them.
  const z::Shape shape{512, 512};
  const z::Array x = z::Array::full(shape, tiny), s = z::Array::full(shape, subnormal);
  auto square = [](z::Tensor a) { return a * a; };
  // (1 + a) * a on a subnormal a: 0 when it is read as 0 (DAZ), and when the result is flushed (FTZ)
  auto scaled_input = [](z::Tensor a) { return (a + 1.0) * a; };
  for (int threads : {1, 2})
    for (bool kernels : {true, false}) {
      const std::string where = fmt::format("{} thread(s), {}", threads, kernels ? "kernels" : "whole graph");
      const unsigned before = mxcsr_controls();
      check_all(z::jit(square, with(true, threads, kernels))(x), 0.0f, "flushed result, " + where);
      check_all(z::jit(scaled_input, with(true, threads, kernels))(s), 0.0f, "flushed input, " + where);
      CHECK_MESSAGE(mxcsr_controls() == before, "the caller's MXCSR is restored, ", where);
      check_all(z::jit(square, with(false, threads, kernels))(x), tiny * tiny, "kept result, " + where);
      check_all(z::jit(scaled_input, with(false, threads, kernels))(s), (subnormal + 1.0f) * subnormal,
                "kept input, " + where);
    }
  // The interpreter is IEEE's reference: it never flushes.
  check_all(z::interpret(square)(x), tiny * tiny, "interpreter");
}

TEST_CASE("flush_denormals: a caller that flushes already keeps its MXCSR, and a prepared call flushes too") {
  const z::Array x = z::Array::full({64, 64}, 1e-20f);
  auto square = [](z::Tensor a) { return a * a; };
  const unsigned before = mxcsr_controls();
  _mm_setcsr(_mm_getcsr() | kFlushBits);
  check_all(z::jit(square, with(true, 1))(x), 0.0f, "a flushing caller");
  CHECK(mxcsr_controls() == (before | kFlushBits));
  _mm_setcsr(_mm_getcsr() & ~kFlushBits);

  auto jitted = z::jit(square, with(true, 1));
  auto prepared = jitted.prepare(x);
  const z::Array& result = prepared();
  check_all(result, 0.0f, "a prepared call");
  CHECK(mxcsr_controls() == before);
}

#endif
