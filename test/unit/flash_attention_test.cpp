// nets::flash_attention against plain softmax(q kᵀ / √d) v written out here: values and gradients
// (reference interpreter, and compiled on 1 and 2 threads), a context that is not a multiple of
// the key block, causal and not, causal self-attention computed in parts, vmap and jvp through
// it, the planned memory growing linearly with the context, and its errors.
#include <doctest/doctest.h>
#include <zephyr/vmap.h>
#include <zephyr/zephyr.h>

#include <cmath>
#include <string>

#include "reference.h"
#include "test_support.h"

namespace z = zephyr;
using z::testing::contains;
using z::testing::random_array;

namespace {

// The reference: the whole (t, s) matrix of scores, top-left causal as nets::multi_head_attention.
z::Tensor plain_attention(const z::Tensor& q, const z::Tensor& k, const z::Tensor& v, bool causal) {
  z::Tensor scores = z::matmul(q, z::moveaxis(k, -1, -2)) / std::sqrt(double(q.shape(-1)));
  if (causal) {
    const int64_t t = q.shape(-2), s = k.shape(-2);
    scores = z::where(z::greater_equal(z::iota({t, s}, 0), z::iota({t, s}, 1)), scores, z::scalar(-1e9));
  }
  return z::matmul(z::softmax(scores, -1), v);
}

void check_near(const z::Array& got, const z::Array& want, double tol, const std::string& what) {
  INFO(what);
  REQUIRE(got.shape() == want.shape());
  for (int64_t i = 0; i < got.size(); ++i) REQUIRE(got.at(i) == doctest::Approx(want.at(i)).epsilon(tol).scale(1));
}

}  // namespace

TEST_CASE("flash_attention: values and gradients equal plain attention's, with a partial last block") {
  // Two heads of a batch of 2. 13 queries against 21 keys in blocks of 8 (the last has 5), with
  // and without a causal mask (one loop over the key blocks); and causal self-attention over 21
  // tokens in blocks of 4, computed in parts: padded to 24, three levels of halving, 8 causal
  // problems of 3 tokens at the bottom. Last, 24 keys in whole blocks of 8: nothing is masked.
  struct Case {
    int64_t t, s, block;
    bool causal;
  };
  for (const Case c : {Case{13, 21, 8, false}, Case{13, 21, 8, true}, Case{21, 21, 4, true}, Case{13, 24, 8, false}}) {
    INFO(c.t << " queries, " << c.s << " keys in blocks of " << c.block << ", causal " << c.causal);
    const z::Array q = random_array({2, 2, c.t, 8}, 1, z::DType::f32, -2, 2),
                   k = random_array({2, 2, c.s, 8}, 2, z::DType::f32, -2, 2);
    const z::Array v = random_array({2, 2, c.s, 5}, 3), w = random_array({2, 2, c.t, 5}, 4);
    const z::nets::FlashOptions options{.is_causal = c.causal, .key_block = c.block};
    auto flash = [options](z::Tensor q, z::Tensor k, z::Tensor v, z::Tensor w) {
      return z::sum(z::nets::flash_attention(q, k, v, options) * w);
    };
    auto plain = [c](z::Tensor q, z::Tensor k, z::Tensor v, z::Tensor w) { return z::sum(plain_attention(q, k, v, c.causal) * w); };
    const z::Array want = z::interpret([c](z::Tensor q, z::Tensor k, z::Tensor v) { return plain_attention(q, k, v, c.causal); })(q, k, v);
    check_near(z::interpret([options](z::Tensor q, z::Tensor k, z::Tensor v) {
                 return z::nets::flash_attention(q, k, v, options);
               })(q, k, v), want, 1e-5, "interpreted values");
    // The gradient with respect to argument I, interpreted or compiled on n threads (0: interpreted).
    auto gradient = [&]<size_t I>(auto loss, int n) {
      return n == 0 ? z::interpret(z::grad<I>(loss))(q, k, v, w)
                    : z::jit(z::grad<I>(loss), z::testing::on_threads(n))(q, k, v, w);
    };
    const z::Array want_dq = gradient.template operator()<0>(plain, 0), want_dk = gradient.template operator()<1>(plain, 0),
                   want_dv = gradient.template operator()<2>(plain, 0);
    for (int n : {0, 1, 2}) {
      INFO(n << " threads (0: interpreted)");
      const double tol = n == 0 ? 1e-5 : 1e-4;
      check_near(gradient.template operator()<0>(flash, n), want_dq, tol, "dq");
      check_near(gradient.template operator()<1>(flash, n), want_dk, tol, "dk");
      check_near(gradient.template operator()<2>(flash, n), want_dv, tol, "dv");
    }
  }
}

TEST_CASE("flash_attention: a block as large as the keys, and one key per block") {
  const z::Array q = random_array({3, 6, 4}, 5), k = random_array({3, 7, 4}, 6), v = random_array({3, 7, 2}, 7);
  const z::Array want = z::interpret([](z::Tensor q, z::Tensor k, z::Tensor v) { return plain_attention(q, k, v, true); })(q, k, v);
  for (int64_t block : {1, 7, 100}) {
    INFO("key_block " << block);
    auto flash = [block](z::Tensor q, z::Tensor k, z::Tensor v) {
      return z::nets::flash_attention(q, k, v, {.is_causal = true, .key_block = block});
    };
    check_near(z::jit(flash)(q, k, v), want, 1e-5, "compiled");
  }
}

TEST_CASE("flash_attention: vmap and jvp go through it") {
  // 9 queries against 11 keys (one loop over the key blocks), and causal self-attention over 11
  // (computed in parts: padded to 12, two levels).
  for (int64_t t : {9, 11}) {
    INFO(t << " queries, 11 keys");
    const z::Array q = random_array({4, t, 6}, 8), k = random_array({4, 11, 6}, 9), v = random_array({4, 11, 3}, 10);
    auto flash = [](z::Tensor q, z::Tensor k, z::Tensor v) {
      return z::nets::flash_attention(q, k, v, {.is_causal = true, .key_block = 4});
    };
    auto plain = [](z::Tensor q, z::Tensor k, z::Tensor v) { return plain_attention(q, k, v, true); };
    // vmap over the leading axis, with v shared by every example.
    const z::Array v0 = random_array({11, 3}, 11);
    auto shared_v = [](auto f) {
      return [f](z::Tensor q, z::Tensor k, z::Tensor v) { return f(q, k, z::broadcast_to(v, {k.shape(0), v.shape(0), v.shape(1)})); };
    };
    check_near(z::interpret(z::vmap(flash, {0, 0, z::unbatched}))(q, k, v0), z::interpret(shared_v(plain))(q, k, v0), 1e-5,
               "vmap");
    // Forward mode: the tangent along (dq, dk, dv) equals plain attention's.
    const z::Array tq = random_array({4, t, 6}, 12), tk = random_array({4, 11, 6}, 13), tv = random_array({4, 11, 3}, 14);
    auto tangent = [](auto f) {
      return [f](z::Tensor q, z::Tensor k, z::Tensor v, z::Tensor tq, z::Tensor tk, z::Tensor tv) {
        return std::get<1>(z::jvp(f, std::tuple{q, k, v}, std::tuple{tq, tk, tv}));
      };
    };
    check_near(z::interpret(tangent(flash))(q, k, v, tq, tk, tv), z::interpret(tangent(plain))(q, k, v, tq, tk, tv), 1e-5,
               "jvp");
  }
}

TEST_CASE("flash_attention: a training step's planned memory grows linearly with the context") {
  // The peak of intermediate values (the schedule's arena) of value_and_grad at context t and 2t:
  // plain attention's (t, t) scores make it grow about 4x; flash attention's about 2x.
  auto arena = [](int64_t t, bool flash) {
    const z::Array q = random_array({4, t, 16}, 1), k = random_array({4, t, 16}, 2), v = random_array({4, t, 16}, 3);
    auto loss = [flash](z::Tensor q, z::Tensor k, z::Tensor v) {
      z::Tensor o = flash ? z::nets::flash_attention(q, k, v, {.is_causal = true, .key_block = 32})
                          : plain_attention(q, k, v, true);
      return z::sum(o * o);
    };
    auto step = [loss](z::Tensor q, z::Tensor k, z::Tensor v) {
      return std::tuple{z::grad<0>(loss)(q, k, v), z::grad<1>(loss)(q, k, v), z::grad<2>(loss)(q, k, v)};
    };
    const z::Function fn = z::make_function(step, q, k, v);
    return static_cast<double>(z::compiler::compile(fn, z::testing::on_threads(1))->stats().intermediate_bytes);
  };
  const double flash = arena(512, true) / arena(256, true), plain = arena(512, false) / arena(256, false);
  MESSAGE("arena growth from context 256 to 512: flash " << flash << "x, plain " << plain << "x");
  CHECK(flash < 2.2);
  CHECK(plain > 3.5);
  CHECK(arena(512, true) < 0.25 * arena(512, false));
}

TEST_CASE("flash_attention: errors name the op, the shapes and the line") {
  const z::Tensor q = z::full({2, 5, 4}, 0.0), k = z::full({2, 6, 4}, 0.0), v = z::full({2, 6, 3}, 0.0);
  std::string m = z::testing::error_of([&] { z::nets::flash_attention(q, z::full({2, 6, 5}, 0.0), v); });
  CHECK(contains(m, "flash_attention"));
  CHECK(contains(m, "[2, 6, 5]"));
  CHECK(contains(m, "flash_attention_test.cpp"));
  m = z::testing::error_of([&] { z::nets::flash_attention(q, k, v, {.key_block = 0}); });
  CHECK(contains(m, "key_block must be at least 1, got 0"));
  m = z::testing::error_of([&] { z::nets::flash_attention(q, k, z::full({2, 6, 3}, 0.0, z::DType::f64)); });
  CHECK(contains(m, "share one float dtype"));
  // The layer refuses a mask with flash attention rather than ignoring it.
  m = z::testing::error_of([] {
    z::trace([](z::Params p, z::Tensor x) {
      return z::nets::multi_head_self_attention(p, x, 2, {.mask = z::full({5, 5}, 1.0), .flash_block = 4});
    }, z::random::key(0), z::Array::zeros({2, 5, 8}, z::DType::f32));
  });
  CHECK(contains(m, "takes no mask"));
}
