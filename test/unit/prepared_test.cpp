// Jitted::prepare: a call bound once to its arrays runs the same code as the jit call, sees new
// values written into the bound arrays, reuses its result buffers, keeps the run-time checks, and
// allocates nothing per call.
#include <doctest/doctest.h>
#include <zephyr/zephyr.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "reference.h"
#include "test_support.h"

namespace z = zephyr;
using z::testing::contains;
using z::testing::random_array;

// Allocations are counted by replacing operator new, except under AddressSanitizer, which has
// operator new of its own and reports a block it allocated and this free() released.
#if defined(__SANITIZE_ADDRESS__)
#define ZEPHYR_COUNTS_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ZEPHYR_COUNTS_ALLOCATIONS 0
#endif
#endif
#ifndef ZEPHYR_COUNTS_ALLOCATIONS
#define ZEPHYR_COUNTS_ALLOCATIONS 1
#endif

namespace {

// Heap allocations made by this thread while counting is on.
thread_local bool counting = false;
thread_local long allocations = 0;

}  // namespace

#if ZEPHYR_COUNTS_ALLOCATIONS
void* operator new(std::size_t size) {
  if (counting) ++allocations;
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#endif

namespace {

z::Tensor tiny(z::Params p, z::Tensor x) { return z::nets::mlp(p, x, {64, 64}); }

void check_same(const z::Array& got, const z::Array& want, const char* what) {
  INFO(what);
  REQUIRE(got.shape() == want.shape());
  for (int64_t i = 0; i < got.size(); ++i) CHECK(got.at(i) == want.at(i));
}

}  // namespace

TEST_CASE("prepare: the bound call equals the jit call, sees values written into its arrays, and allocates nothing") {
  z::Array x = random_array({1, 64}, 1);
  const z::ParamTree params = z::trace(tiny, z::random::key(0), x);
  auto f = z::jit(tiny);
  auto run = f.prepare(params, x);
  const z::Array first = run();  // a copy of the handle: it shares the result buffer
  check_same(first, f(params, x), "first call");
  CHECK(f.compiles() == 1);  // prepare and the plain call share one compile

  // New inputs are written into the bound array; the result buffer is the same one, rewritten.
  const z::Array other = random_array({1, 64}, 2);
  for (int64_t i = 0; i < x.size(); ++i) x.data<float>()[i] = other.data<float>()[i];
  const z::Array second = run();
  check_same(second, f(params, other), "after new inputs");
  CHECK(second.raw() == first.raw());

  counting = true;
  allocations = 0;
  for (int i = 0; i < 100; ++i) run();
  counting = false;
  if (ZEPHYR_COUNTS_ALLOCATIONS) CHECK_MESSAGE(allocations == 0, allocations << " allocations in 100 prepared calls");
}

TEST_CASE("prepare: tuple results, and a run-time check that fails after an input changed") {
  z::Array x = random_array({4, 64}, 3);
  z::Array labels = z::Array::from<int32_t>({4}, {1, 0, 3, 2});
  auto loss = [](z::Params p, z::Tensor x, z::Tensor y) { return z::losses::softmax_cross_entropy(tiny(p, x), y); };
  const z::ParamTree params = z::trace(loss, z::random::key(4), x, labels);
  auto step = z::jit(z::value_and_grad(loss));
  auto run = step.prepare(params, x, labels);
  const auto& [value, grads] = run();
  auto [want_value, want_grads] = step(params, x, labels);
  check_same(value, want_value, "loss");
  for (size_t i = 0; i < grads.size(); ++i) check_same(grads.leaves()[i].second, want_grads.leaves()[i].second, "grads");
  labels.data<int32_t>()[2] = 99;
  const std::string error = z::testing::error_of([&] { run(); });
  CHECK_MESSAGE(contains(error, "labels outside [0, 64)"), error);
}

TEST_CASE("prepare: each prepared call owns its intermediate values, and a moved one still runs") {
  // value_and_grad is several kernels, whose intermediates live in each binding's own arena:
  // two bindings of one function, run interleaved, must not see each other's.
  z::Array a = random_array({4, 64}, 5), b = random_array({4, 64}, 6);
  z::Array labels = z::Array::from<int32_t>({4}, {0, 1, 2, 3});
  auto loss = [](z::Params p, z::Tensor x, z::Tensor y) { return z::losses::softmax_cross_entropy(tiny(p, x), y); };
  const z::ParamTree params = z::trace(loss, z::random::key(7), a, labels);
  auto step = z::jit(z::value_and_grad(loss));
  auto run_a = step.prepare(params, a, labels);
  auto run_b = step.prepare(params, b, labels);
  auto [want_a, grads_a] = step(params, a, labels);
  auto [want_b, grads_b] = step(params, b, labels);
  for (int i = 0; i < 3; ++i) {
    check_same(std::get<0>(run_a()), want_a, "a");
    check_same(std::get<0>(run_b()), want_b, "b");
  }
  auto moved = std::move(run_a);
  const auto& [value, grads] = moved();
  check_same(value, want_a, "moved");
  for (size_t i = 0; i < grads.size(); ++i) check_same(grads.leaves()[i].second, grads_a.leaves()[i].second, "moved grads");
}
