// Hostile sizes, interrupted writes and concurrent first calls: a clear error or the right
// result, never a crash, a half-written file or a repeated compile.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zephyr/io/atomic_file.h>
#include <zephyr/zephyr.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "test_support.h"

namespace z = zephyr;
namespace fs = std::filesystem;
using zephyr::testing::contains;
using zephyr::testing::error_of;

namespace {

fs::path scratch(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("zephyr-hardening-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir / name;
}

std::string content(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("hardening: element and byte counts that overflow are errors naming the shape") {
  const int64_t big = INT64_MAX;
  std::string message = error_of([&] { z::numel({big, 2}); });
  CHECK(contains(message, "[9223372036854775807, 2]"));
  CHECK(contains(message, "more elements than fit in 64 bits"));
  CHECK(z::numel({big, 1}) == big);
  CHECK(z::numel({big, 0}) == 0);
  CHECK(contains(error_of([&] { z::numel({-1, 3}); }), "negative extent"));
  // numel fits, bytes do not: int64_t{1} << 62 floats.
  message = error_of([&] { z::nbytes({int64_t{1} << 62}, z::DType::f32); });
  CHECK(contains(message, "f32[4611686018427387904]"));
  CHECK(z::nbytes({3, 5}, z::DType::f64) == 120);
  // An Array of such a shape is refused before anything is allocated.
  CHECK(contains(error_of([&] { z::Array({int64_t{1} << 32, int64_t{1} << 31}, z::DType::bool_); }), "64 bits"));
  // One that is merely too big for memory says how many bytes, and for what.
  message = error_of([&] { z::Array({int64_t{1} << 40, 1024}, z::DType::f32); });
  CHECK(contains(message, "out of memory"));
  CHECK(contains(message, "4503599627370496 bytes for f32[1099511627776, 1024]"));
}

TEST_CASE("hardening: an atomic file replaces its target only on commit") {
  const fs::path path = scratch("atomic.txt");
  z::io::write_file_atomically(path.string(), "old");
  {
    z::io::AtomicFile file(path.string());
    file.write("new, but never committed");
  }  // destroyed without commit: as if the write had failed
  CHECK(content(path) == "old");
  z::io::write_file_atomically(path.string(), "new");
  CHECK(content(path) == "new");
  int leftovers = 0;
  for (const auto& entry : fs::directory_iterator(path.parent_path()))
    leftovers += entry.path().filename().string().find(".tmp.") != std::string::npos;
  CHECK(leftovers == 0);
  CHECK(contains(error_of([&] { z::io::write_file_atomically("/nonexistent/dir/x", "y"); }), "/nonexistent/dir/x"));
}

TEST_CASE("hardening: temporaries of processes killed mid-write are removed by the next write") {
  const fs::path path = scratch("killed.txt");
  z::io::write_file_atomically(path.string(), "good");
  // A child opens a temporary, writes part of it and is killed before it can commit.
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    z::io::AtomicFile file(path.string());
    file.write("half");
    ::kill(::getpid(), SIGKILL);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  CHECK(WIFSIGNALED(status));
  const fs::path stale = path.string() + ".tmp." + std::to_string(child);
  CHECK(fs::exists(stale));
  CHECK(content(path) == "good");
  // A temporary of a live process (this one) is left alone.
  const fs::path live = path.string() + ".tmp." + std::to_string(::getpid());
  std::ofstream(live) << "in progress";
  z::io::remove_stale_temporaries(path.string());
  CHECK_FALSE(fs::exists(stale));
  CHECK(fs::exists(live));
  fs::remove(live);
}

TEST_CASE("hardening: eight threads making the first call of one signature compile it once") {
  auto f = [](z::Tensor a, z::Tensor b) { return z::tanh(z::matmul(a, b)) + z::scalar(1.0); };
  auto jitted = z::jit(f);
  const z::Array a = z::random::uniform(z::random::key(1), {16, 32});
  const z::Array b = z::random::uniform(z::random::key(2), {32, 8});
  const z::Array expected = z::jit(f)(a, b);
  std::atomic<int> ready{0}, wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      ++ready;
      while (ready < 8) std::this_thread::yield();  // all make the first call together
      z::Array got = jitted(a, b);
      if (std::memcmp(got.raw(), expected.raw(), expected.nbytes()) != 0) ++wrong;
    });
  for (std::thread& t : threads) t.join();
  CHECK(wrong == 0);
  CHECK(jitted.compiles() == 1);
  CHECK(jitted.cache_size() == 1);
}

TEST_CASE("hardening: eight threads calling one compiled function, and compiling two signatures at once") {
  // Calls share the compiled schedule and the buffer pool; the two first calls of different
  // signatures compile their kernels concurrently (the compile toolchains are shared).
  auto f = [](z::Tensor a, z::Tensor b) { return z::sum(z::tanh(z::matmul(a, b)) * z::scalar(2.0f), {1}); };
  auto jitted = z::jit(f);
  const z::Array a = z::random::uniform(z::random::key(1), {64, 32}), b = z::random::uniform(z::random::key(2), {32, 48});
  const z::Array a2 = z::random::uniform(z::random::key(3), {40, 32});
  std::vector<float> expected(64), expected2(40);  // by hand: sum_j 2 tanh((a b)_ij)
  auto by_hand = [&](const z::Array& x, std::vector<float>& out) {
    const int64_t rows = x.shape(0);
    for (int64_t i = 0; i < rows; ++i) {
      double total = 0;
      for (int64_t j = 0; j < 48; ++j) {
        double dot = 0;
        for (int64_t k = 0; k < 32; ++k) dot += x.at(i * 32 + k) * b.at(k * 48 + j);
        total += 2 * std::tanh(dot);
      }
      out[i] = static_cast<float>(total);
    }
  };
  by_hand(a, expected);
  by_hand(a2, expected2);
  std::atomic<int> ready{0}, wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      ++ready;
      while (ready < 8) std::this_thread::yield();
      const bool second = t % 2 == 1;
      for (int call = 0; call < 25; ++call) {
        z::Array got = jitted(second ? a2 : a, b);
        const std::vector<float>& want = second ? expected2 : expected;
        for (size_t i = 0; i < want.size(); ++i)
          if (std::abs(got.data<float>()[i] - want[i]) > 1e-4f * (1 + std::abs(want[i]))) ++wrong;
      }
    });
  for (std::thread& t : threads) t.join();
  CHECK(wrong == 0);
  CHECK(jitted.compiles() == 2);
}

TEST_CASE("hardening: a compile that fails is not cached: every call reports it") {
  auto f = [](z::Tensor a) { return z::matmul(a, a); };  // [2, 3] @ [2, 3]: a shape error
  auto jitted = z::jit(f);
  const z::Array a = z::Array::ones({2, 3});
  for (int i = 0; i < 2; ++i) CHECK(contains(error_of([&] { jitted(a); }), "[matmul]"));
  CHECK(jitted.cache_size() == 0);
  CHECK(jitted.compiles() == 0);
}

TEST_CASE("hardening: 1 to 8 threads give the same bits: matmuls split into row blocks of whole register tiles") {
  // 128 rows split over 3, 5, 6 or 7 threads used to give blocks of 43 or 26 rows, whose odd
  // register tiles rounded differently: 13,943 of 65,536 elements differed from one thread.
  auto f = [](z::Tensor x, z::Tensor w, z::Tensor v) {
    z::Tensor h = z::relu(z::matmul(x, w));
    return std::tuple{h, z::matmul(h, v), z::transpose(h, {1, 0})};
  };
  for (int64_t rows : {128, 96, 100, 1000}) {
    const z::Array x = z::random::uniform(z::random::key(1), {rows, 784});
    const z::Array w = z::random::uniform(z::random::key(2), {784, 512});
    const z::Array v = z::random::uniform(z::random::key(3), {512, 64});
    z::compiler::Options one;
    one.threads = 1;
    auto [h1, y1, t1] = z::jit(f, one)(x, w, v);
    for (int threads = 2; threads <= 8; ++threads) {
      z::compiler::Options options;
      options.threads = threads;
      auto [h, y, t] = z::jit(f, options)(x, w, v);
      INFO(rows << " rows, " << threads << " threads");
      CHECK(std::memcmp(h.raw(), h1.raw(), h1.nbytes()) == 0);
      CHECK(std::memcmp(y.raw(), y1.raw(), y1.nbytes()) == 0);
      CHECK(std::memcmp(t.raw(), t1.raw(), t1.nbytes()) == 0);
    }
  }
}

TEST_CASE("hardening: ZEPHYR_DEBUG_NANS=1 stops at the first op that produced a NaN and names the user's line") {
  ::setenv("ZEPHYR_DEBUG_NANS", "1", 1);
  auto f = [](z::Tensor x) {
    z::Tensor y = z::exp(x) * z::scalar(2.0);
    z::Tensor bad = z::log(y - z::scalar(4.0));  // log of a negative number: NaN for x < log 2
    return std::tuple{bad + y, y};
  };
  z::Array x = z::Array::zeros({4, 8});
  const std::string message = error_of([&] { z::jit(f)(x); });
  ::unsetenv("ZEPHYR_DEBUG_NANS");
  INFO(message);
  CHECK(contains(message, "[debug_nans]"));
  CHECK(contains(message, "] log at "));  // the op itself, not the add it is fused into
  CHECK(contains(message, "produced NaN at element 0 of its f32[4, 8] result"));
  CHECK(contains(message, "hardening_test.cpp:"));
  // Without the switch the same function runs and returns its NaNs.
  auto [out, y] = z::jit(f)(x);
  CHECK(std::isnan(out.data<float>()[0]));
}

TEST_CASE("hardening: the jit cache keeps the most recently called signatures up to its capacity") {
  auto jitted = z::jit([](z::Tensor x) { return z::exp(x) + z::scalar(1.0); });
  jitted.set_cache_capacity(2);
  auto call = [&](int64_t n) { return jitted(z::Array::ones({n})).data<float>()[0]; };
  CHECK(call(1) == doctest::Approx(std::exp(1.0f) + 1));
  call(2);
  call(1);  // a hit: 1 is now the most recent
  call(3);  // evicts 2, the least recently called
  z::JitCacheStats stats = jitted.cache_stats();
  CHECK(stats.entries == 2);
  CHECK(stats.capacity == 2);
  CHECK(stats.compiles == 3);
  CHECK(stats.hits == 1);
  CHECK(stats.evictions == 1);
  call(1);  // still cached
  CHECK(jitted.cache_stats().compiles == 3);
  CHECK(call(2) == doctest::Approx(std::exp(1.0f) + 1));  // compiled again, correctly
  CHECK(jitted.cache_stats().compiles == 4);
  CHECK(jitted.cache_stats().evictions == 2);
}

TEST_CASE("hardening: repeated calls of one signature are hits, and a cache of one alternates correctly") {
  auto jitted = z::jit([](z::Tensor x) { return z::exp(x) + z::scalar(1.0); });
  auto call = [&](int64_t n) { return jitted(z::Array::ones({n})); };
  for (int i = 0; i < 5; ++i) CHECK(call(3).data<float>()[2] == doctest::Approx(std::exp(1.0f) + 1));
  CHECK(jitted.cache_stats().compiles == 1);
  CHECK(jitted.cache_stats().hits == 4);
  // Each call's result is its own array: the next call does not write into it.
  z::Array first = jitted(z::Array::zeros({3}));
  z::Array second = call(3);
  CHECK(first.data<float>()[0] == doctest::Approx(2.0f));
  CHECK(second.data<float>()[0] == doctest::Approx(std::exp(1.0f) + 1));
  jitted.set_cache_capacity(1);
  for (int i = 0; i < 3; ++i) {
    CHECK(call(1).shape() == z::Shape{1});  // evicts 3
    CHECK(call(3).shape() == z::Shape{3});  // evicts 1
  }
  CHECK(jitted.cache_stats().entries == 1);
  CHECK(jitted.cache_stats().compiles == 7);
  CHECK(jitted.cache_stats().evictions == 6);
}

TEST_CASE("hardening: jitted functions of one type called in turn each run their own code") {
  // Five functions of one type (a plain function pointer), more than a thread's memos of last
  // calls: each call must find its own function's code, whichever memo it shares.
  using Fn = z::Tensor (*)(z::Tensor);
  const Fn fns[] = {
      [](z::Tensor x) { return x + z::scalar(1.0); }, [](z::Tensor x) { return x + z::scalar(2.0); },
      [](z::Tensor x) { return x + z::scalar(3.0); }, [](z::Tensor x) { return x + z::scalar(4.0); },
      [](z::Tensor x) { return x + z::scalar(5.0); }};
  std::vector<z::Jitted<Fn>> jitted;
  for (Fn f : fns) jitted.push_back(z::jit(f));
  const z::Array x = z::Array::zeros({2});
  for (int round = 0; round < 3; ++round)
    for (size_t i = 0; i < jitted.size(); ++i) CHECK(jitted[i](x).data<float>()[1] == static_cast<float>(i + 1));
  for (const auto& j : jitted) {
    CHECK(j.cache_stats().compiles == 1);
    CHECK(j.cache_stats().hits == 2);
  }
}

TEST_CASE("hardening: a signature evicted by another thread is compiled again, not run from a memo") {
  // A thread's memo of its last call must not keep evicted code in use (the capacity bounds the
  // code kept): the eviction makes the memo stale.
  auto jitted = z::jit([](z::Tensor x) { return x * z::scalar(2.0); });
  jitted.set_cache_capacity(1);
  CHECK(jitted(z::Array::ones({1})).data<float>()[0] == 2.0f);
  std::thread([&] { CHECK(jitted(z::Array::ones({2})).data<float>()[1] == 2.0f); }).join();  // evicts {1}
  CHECK(jitted.cache_stats().evictions == 1);
  CHECK(jitted(z::Array::ones({1})).data<float>()[0] == 2.0f);
  CHECK(jitted.cache_stats().compiles == 3);
  CHECK(jitted.cache_stats().hits == 0);
}

namespace {
// What `f` writes to stderr (file descriptor 2), captured through a temporary file.
template <class F>
std::string stderr_of(F&& f) {
  std::fflush(stderr);
  std::FILE* sink = std::tmpfile();
  const int saved = ::dup(2);
  ::dup2(::fileno(sink), 2);
  try {
    f();
  } catch (...) {
    std::fflush(stderr);
    ::dup2(saved, 2);
    ::close(saved);
    std::fclose(sink);
    throw;
  }
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::rewind(sink);
  std::string text;
  for (int c; (c = std::fgetc(sink)) != EOF;) text.push_back(static_cast<char>(c));
  std::fclose(sink);
  return text;
}
}  // namespace

TEST_CASE("jit warns once when a plain float argument's changing value keeps recompiling, and names it") {
  auto scaled = z::jit([](z::Tensor x, double scale) { return x * scale; });
  const z::Array x = z::Array::ones({3});
  const std::string first = stderr_of([&] {
    for (double s : {0.5, 1.5, 2.5}) CHECK(scaled(x, s).at(0) == s);
  });
  CHECK_FALSE(contains(first, "warning"));  // three values are a few signatures, not a problem yet
  const std::string fourth = stderr_of([&] { CHECK(scaled(x, 3.5).at(0) == 3.5); });
  CHECK(contains(fourth, "[zephyr] warning: a jitted function has compiled 4 times because its plain argument 1 changed"));
  CHECK(contains(fourth, "z::Array::scalar(v)"));
  const std::string later = stderr_of([&] { CHECK(scaled(x, 4.5).at(0) == 4.5); });
  CHECK_FALSE(contains(later, "warning"));  // once per function
  // The same values again are cache hits: no compile, nothing said.
  CHECK(stderr_of([&] { scaled(x, 0.5); }).empty());
  CHECK(scaled.compiles() == 5);

  // Integers that vary are usually meant (sizes, axes): no warning for them.
  auto summed = z::jit([](z::Tensor x, int axis) { return z::sum(x, {axis}); });
  const z::Array m = z::Array::ones({2, 3});
  CHECK_FALSE(contains(stderr_of([&] {
    for (int axis : {0, 1, -1, -2}) summed(m, axis);
  }), "warning"));

  // The way out: the value as an Array argument compiles once.
  auto as_array = z::jit([](z::Tensor x, z::Tensor scale) { return x * scale; });
  const std::string quiet = stderr_of([&] {
    for (float s : {0.5f, 1.5f, 2.5f, 3.5f, 4.5f}) CHECK(as_array(x, z::Array::scalar(s)).at(0) == s);
  });
  CHECK_FALSE(contains(quiet, "warning"));
  CHECK(as_array.compiles() == 1);
}
