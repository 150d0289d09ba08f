// threefry-2x32 against the Random123 / JAX known-answer vectors, and the samplers' statistics.
#include <doctest/doctest.h>
#include <zephyr/random.h>

#include <cmath>

namespace r = zephyr::random;

TEST_CASE("threefry2x32 reproduces the published known-answer vectors") {
  // jax/tests/random_test.py::testThreefry2x32 (from Random123's kat_vectors).
  CHECK(r::threefry2x32({0, 0}, {0, 0}) == std::array<uint32_t, 2>{0x6b200159u, 0x99ba4efeu});
  CHECK(r::threefry2x32({0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu}) ==
        std::array<uint32_t, 2>{0x1cb996fcu, 0xbb002be7u});
  CHECK(r::threefry2x32({0x13198a2eu, 0x03707344u}, {0x243f6a88u, 0x85a308d3u}) ==
        std::array<uint32_t, 2>{0xc4923a9cu, 0x483df7a0u});
}

TEST_CASE("key and split match jax.random") {
  CHECK(r::key(0) == r::Key{0, 0});
  CHECK(r::key(42) == r::Key{0, 42});
  CHECK(r::key(0x100000002ull) == r::Key{1, 2});
  // jax.random.split(jax.random.PRNGKey(0)) == [[4146024105, 967050713], [2718843009, 1272950319]]
  auto keys = r::split(r::key(0));
  REQUIRE(keys.size() == 2);
  CHECK(keys[0] == r::Key{4146024105u, 967050713u});
  CHECK(keys[1] == r::Key{2718843009u, 1272950319u});
}

TEST_CASE("fold_in gives distinct, deterministic keys") {
  CHECK(r::fold_in(r::key(0), 1) == r::fold_in(r::key(0), 1));
  CHECK_FALSE(r::fold_in(r::key(0), 1) == r::fold_in(r::key(0), 2));
  CHECK_FALSE(r::fold_in(r::key(0), 1) == r::fold_in(r::key(1), 1));
}

TEST_CASE("uniform, normal and truncated_normal have the right moments and ranges") {
  const int64_t n = 200000;
  auto moments = [](const zephyr::Array& a) {
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < a.size(); ++i) s += a.at(i), s2 += a.at(i) * a.at(i);
    double mean = s / a.size();
    return std::pair{mean, s2 / a.size() - mean * mean};
  };
  zephyr::Array u = r::uniform(r::key(1), {n}, zephyr::DType::f32, -1, 3);
  for (int64_t i = 0; i < n; ++i) REQUIRE((u.at(i) >= -1 && u.at(i) < 3));
  auto [um, uv] = moments(u);
  CHECK(um == doctest::Approx(1.0).epsilon(0.01));
  CHECK(uv == doctest::Approx(16.0 / 12).epsilon(0.01));

  auto [nm, nv] = moments(r::normal(r::key(2), {n}, zephyr::DType::f64));
  CHECK(std::abs(nm) < 0.01);
  CHECK(nv == doctest::Approx(1.0).epsilon(0.01));

  zephyr::Array t = r::truncated_normal(r::key(3), -2, 2, {n});
  for (int64_t i = 0; i < n; ++i) REQUIRE(std::abs(t.at(i)) < 2.0);
  // Variance of a standard normal truncated to [-2, 2]: 0.8796^2.
  CHECK(moments(t).second == doctest::Approx(0.7737413).epsilon(0.01));
}

TEST_CASE("erfinv inverts erf") {
  for (double x : {-3.0, -1.2, -0.3, 0.0, 1e-4, 0.5, 2.2, 3.5})
    CHECK(r::erfinv(std::erf(x)) == doctest::Approx(x).epsilon(1e-9));
}
