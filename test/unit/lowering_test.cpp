// The lowering's tiling, peeling, vectorization and thread split against the reference
// interpreter (z::interpret, no MLIR), on shapes whose extents are not multiples of any tile:
// every remainder path runs. The scalar lowering (`Options::vectorize = false`) is checked the
// same way, and the interpreter itself against a plain loop. Fusion paths and whole training
// steps are checked against the interpreter in interpreter_test.cpp.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cstring>
#include <functional>
#include <zephyr/zephyr.h>

#include "reference.h"

namespace z = zephyr;
using z::testing::check_close;
using z::testing::random_array;
using z::testing::Ref;

namespace {

z::compiler::Options scalar_lowering() {
  z::compiler::Options o;
  o.vectorize = false;
  o.threads = 1;
  return o;
}

z::compiler::Options optimized(int threads) {
  z::compiler::Options o;
  o.threads = threads;
  return o;
}

Ref as_ref(const z::Array& a) {
  Ref r{a.shape(), {}};
  for (int64_t i = 0; i < a.size(); ++i) r.values.push_back(a.at(i));
  return r;
}

// C = op(A) op(B) in double, with op transposing where asked.
Ref loop_matmul(const z::Array& a, const z::Array& b, bool trans_a, bool trans_b) {
  const int64_t m = trans_a ? a.shape(1) : a.shape(0), k = trans_a ? a.shape(0) : a.shape(1);
  const int64_t n = trans_b ? b.shape(0) : b.shape(1);
  Ref r{{m, n}, std::vector<double>(m * n, 0.0)};
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (int64_t p = 0; p < k; ++p)
        sum += a.at(trans_a ? p * m + i : i * k + p) * b.at(trans_b ? j * k + p : p * n + j);
      r.values[i * n + j] = sum;
    }
  return r;
}

struct Product {
  int64_t m, k, n;
};

// Extents around the tile sizes (register 8x32, cache 32x512x256; one row: 256 columns) and off
// by a few; the last, a B beyond L2 with rows 4352 bytes apart, is packed into panels (A·B and
// A·Bᵀ; Aᵀ·B is read in place). A·Bᵀ with Bᵀ's rows 2 KB apart (128x77x512, the MLP's input
// gradient) has its transpose write the panels. One-row products of at most 7 registers' width get 2, 3 or 4
// accumulators where that many divide k (64x64: 2; 300x10: 4; 30x40 and 66x16: 3), else one (37).
const Product kProducts[] = {{1, 1, 1},      {7, 13, 5},     {37, 53, 29},  {65, 257, 33},
                             {100, 300, 70}, {130, 784, 17}, {64, 100, 530}, {96, 40, 1030},
                             {1, 784, 512},  {1, 37, 530},   {1, 300, 10},   {1, 64, 64},
                             {1, 30, 40},    {1, 66, 16},    {260, 257, 1088}, {128, 77, 512}};

}  // namespace

TEST_CASE("lowering: matmul remainders at both tile levels agree with the interpreter, on 1 and 2 threads") {
  auto nn = [](z::Tensor a, z::Tensor b) { return z::matmul(a, b); };
  auto tn = [](z::Tensor a, z::Tensor b) { return z::matmul(z::transpose(a), b); };
  auto nt = [](z::Tensor a, z::Tensor b) { return z::matmul(a, z::transpose(b)); };
  for (const Product& p : kProducts) {
    for (int variant = 0; variant < 3; ++variant) {
      const bool trans_a = variant == 1, trans_b = variant == 2;
      z::Array a = random_array(trans_a ? z::Shape{p.k, p.m} : z::Shape{p.m, p.k}, 1);
      z::Array b = random_array(trans_b ? z::Shape{p.n, p.k} : z::Shape{p.k, p.n}, 2);
      auto run = [&](const z::compiler::Options& o) {
        if (trans_a) return z::jit(tn, o)(a, b);
        if (trans_b) return z::jit(nt, o)(a, b);
        return z::jit(nn, o)(a, b);
      };
      const std::string what = std::to_string(p.m) + "x" + std::to_string(p.k) + "x" + std::to_string(p.n) +
                               (trans_a ? " A^T" : trans_b ? " B^T" : "");
      z::Array reference = trans_a ? z::interpret(tn)(a, b) : trans_b ? z::interpret(nt)(a, b) : z::interpret(nn)(a, b);
      check_close(reference, loop_matmul(a, b, trans_a, trans_b), 1e-5, what + ": interpreter vs loop");
      // Summation order differs between tilings: f32 rounding, scaled by sqrt(k).
      const double tol = 2e-6 * std::sqrt(static_cast<double>(p.k));
      check_close(run(scalar_lowering()), as_ref(reference), tol, what + ": scalar lowering");
      check_close(run(optimized(1)), as_ref(reference), tol, what + ": 1 thread");
      check_close(run(optimized(2)), as_ref(reference), tol, what + ": 2 threads");
    }
  }
}

TEST_CASE("lowering: batched matmuls agree with the interpreter, on 1 and 2 threads, with the same bits") {
  // Attention's shape (32 heads of 64 x 32 by 32 x 64) and an odd batch whose matrices have
  // remainders at both tile levels, both with enough work to be shared out by matrices
  // (Emitter::kSharedBatchMultiplyAdds), and a tiny one that stays a loop.
  struct Batched {
    int64_t batch, m, k, n;
  };
  auto f = [](z::Tensor a, z::Tensor b) { return z::matmul(a, b); };
  for (const Batched& c : {Batched{32, 64, 32, 64}, Batched{7, 65, 37, 130}, Batched{3, 5, 7, 9}}) {
    z::Array a = random_array({c.batch, c.m, c.k}, 21), b = random_array({c.batch, c.k, c.n}, 22);
    const std::string what = fmt::format("{} x {}x{}x{}", c.batch, c.m, c.k, c.n);
    const z::Array reference = z::interpret(f)(a, b);
    const double tol = 2e-6 * std::sqrt(static_cast<double>(c.k));
    const z::Array one = z::jit(f, optimized(1))(a, b), two = z::jit(f, optimized(2))(a, b);
    check_close(one, as_ref(reference), tol, what + ": 1 thread");
    check_close(two, as_ref(reference), tol, what + ": 2 threads");
    CHECK_MESSAGE(std::memcmp(one.raw(), two.raw(), one.nbytes()) == 0, what << ": 2 threads' bits differ from 1's");
  }
}

TEST_CASE("lowering: a + pad(g) adds g into the strided window of a, in place") {
  // The shape of a convolution's input gradient: one padded slice gradient per kernel offset.
  const z::Shape low{1, 0, 2}, high{0, 2, 0}, interior{0, 1, 2};
  z::Array a = random_array({4, 7, 9}, 10), g = random_array({3, 3, 3}, 11), h = random_array({3, 3, 3}, 12);
  auto f = [&](z::Tensor a, z::Tensor g, z::Tensor h) {
    return z::pad(h, low, high, interior) + (a + z::pad(g, low, high, interior));
  };
  Ref want = as_ref(a);
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 3; ++j)
      for (int64_t k = 0; k < 3; ++k) {
        int64_t at = (low[0] + i * (interior[0] + 1)) * 63 + (low[1] + j * (interior[1] + 1)) * 9 + low[2] +
                     k * (interior[2] + 1);
        want.values[at] += g.at(i * 9 + j * 3 + k) + h.at(i * 9 + j * 3 + k);
      }
  check_close(z::jit(f, scalar_lowering())(a, g, h), want, 1e-6, "scalar lowering");
  check_close(z::interpret(f)(a, g, h), want, 1e-6, "interpreter");
  check_close(z::jit(f, optimized(1))(a, g, h), want, 1e-6, "optimized");
}

TEST_CASE("lowering: a large sum of zero pads is added image by image, the same bits as the interpreter's") {
  // A convolution's input gradient: its patches' gradient [n, h, w, 9c] cut into the 9 kernel
  // offsets' slices, each padded back to [n, h+2, w+2, c] and summed. Above 1 MB the sum is
  // computed one image (index of axis 0) at a time; below, or where axis 0 is padded too, it is
  // added window by window over the whole tensor. Each is checked on 1 and 2 threads, with an
  // interior stride (a stride-2 convolution's gradient) and with a remainder after 16 lanes (c 20).
  struct Case {
    std::string name;
    int64_t images;
    int64_t stride;
    int64_t image_pad;  // rows of zeros before axis 0 (no image by image sum)
    bool by_image;
  };
  const int64_t rows = 14, cols = 14, c = 20;
  const std::vector<Case> cases = {{"64 images", 64, 1, 0, true},
                                   {"64 images, stride 2", 64, 2, 0, true},
                                   {"3 images (below 1 MB)", 3, 1, 0, false},
                                   {"64 images, axis 0 padded", 64, 1, 1, false}};
  for (const Case& k : cases) {
    auto col2im = [&](z::Tensor g) {
      z::Tensor sum;
      for (int64_t i = 0; i < 9; ++i) {
        const int64_t dy = i / 3, dx = i % 3, s = k.stride - 1;
        z::Tensor part = z::slice(g, 3, i * c, (i + 1) * c);
        z::Tensor padded = z::pad(part, {k.image_pad, 2 - dy, 2 - dx, 0}, {0, dy, dx, 0}, {0, s, s, 0});
        sum = i == 0 ? padded : sum + padded;
      }
      return sum;
    };
    z::Array g = random_array({k.images, rows, cols, 9 * c}, 71);
    const z::Function f = z::make_function(col2im, g);
    const bool forall = z::compiler::lower_to(f, z::compiler::Stage::mlir).find("scf.forall") != std::string::npos;
    CHECK_MESSAGE(forall == k.by_image, k.name);
    const z::Array reference = z::interpret(col2im)(g);
    for (int threads : {1, 2})
      check_close(z::jit(col2im, optimized(threads))(g), as_ref(reference), 0, fmt::format("{}, {} thread(s)", k.name, threads));
  }
  // The interpreter against a loop for one output element of the first case: offset (dy, dx)
  // moves patch (r, q) to (r + 2 - dy, q + 2 - dx), so (1, 1) of image 5, channel 3, sums the
  // offsets dy, dx in {1, 2}, from patch (dy - 1, dx - 1).
  z::Array g = random_array({64, rows, cols, 9 * c}, 71);
  auto sum = [&](z::Tensor x) {
    z::Tensor s;
    for (int64_t i = 0; i < 9; ++i) {
      const int64_t dy = i / 3, dx = i % 3;
      z::Tensor padded = z::pad(z::slice(x, 3, i * c, (i + 1) * c), {0, 2 - dy, 2 - dx, 0}, {0, dy, dx, 0});
      s = i == 0 ? padded : s + padded;
    }
    return s;
  };
  const z::Array out = z::interpret(sum)(g);
  double want = 0;
  for (int64_t dy = 1; dy <= 2; ++dy)
    for (int64_t dx = 1; dx <= 2; ++dx)
      want += g.at(((5 * rows + (dy - 1)) * cols + (dx - 1)) * 9 * c + (dy * 3 + dx) * c + 3);
  const int64_t at = ((5 * (rows + 2) + 1) * (cols + 2) + 1) * c + 3;
  CHECK(out.at(at) == doctest::Approx(want).epsilon(1e-6));
}

TEST_CASE("lowering: a product plus a bias accumulates into the bias, through reshapes too, on 1 and 2 threads") {
  // A linear layer (bias a row), a convolution's product reshaped to NHWC before its bias, a
  // product plus another product (a full-shape "bias"), and a split product (130 rows, 2 threads).
  struct Case {
    std::string name;
    z::Shape x, w, bias;
    std::function<z::Tensor(z::Tensor, z::Tensor, z::Tensor)> f;
  };
  auto linear = [](z::Tensor x, z::Tensor w, z::Tensor b) { return z::matmul(x, w) + b; };
  auto bias_first = [](z::Tensor x, z::Tensor w, z::Tensor b) { return b + z::matmul(x, w); };
  auto conv_like = [](z::Tensor x, z::Tensor w, z::Tensor b) {
    return z::reshape(z::matmul(x, w), {5, 3, 7, 21}) + b;
  };
  auto two_products = [](z::Tensor x, z::Tensor w, z::Tensor b) {
    return z::matmul(x, w) + z::matmul(x * 2.0, w) + z::reshape(b, {1, -1});
  };
  const std::vector<Case> cases = {
      {"linear 37x53x29", {37, 53}, {53, 29}, {29}, linear},
      {"bias first, 130x784x70", {130, 784}, {784, 70}, {70}, bias_first},
      {"conv-like 105x9x21 as 5x3x7x21", {105, 9}, {9, 21}, {21}, conv_like},
      {"two products", {65, 40}, {40, 33}, {33}, two_products},
      {"one row 1x64x64 (two accumulators, the first from the bias)", {1, 64}, {64, 64}, {64}, linear},
  };
  for (const Case& c : cases) {
    z::Array x = random_array(c.x, 41), w = random_array(c.w, 42), b = random_array(c.bias, 43);
    const z::Array reference = z::interpret(c.f)(x, w, b);
    // The interpreter against a loop for the linear case: (x·w)[i, j] + b[j].
    if (c.name.starts_with("linear")) {
      Ref want = loop_matmul(x, w, false, false);
      for (size_t i = 0; i < want.values.size(); ++i) want.values[i] += b.at(static_cast<int64_t>(i % 29));
      check_close(reference, want, 1e-5, c.name + ": interpreter vs loop");
    }
    const double tol = 2e-6 * std::sqrt(static_cast<double>(c.x[1]));
    check_close(z::jit(c.f, optimized(1))(x, w, b), as_ref(reference), tol, c.name + ": 1 thread");
    check_close(z::jit(c.f, optimized(2))(x, w, b), as_ref(reference), tol, c.name + ": 2 threads");
  }
}

TEST_CASE("lowering: elementwise nests of rank 5 and 6 with a comparison's mask agree with the interpreter") {
  // A pooling gradient's shape ([n, h/2, 2, w/2, 2, c]) with a broadcast operand, and rank 5;
  // the innermost extents (21, 37) leave remainders after the 16-lane vectors, and both are
  // large enough to be split over 2 threads.
  auto masked = [](z::Tensor x, z::Tensor g) { return z::where(z::greater_equal(x, z::scalar(0.0)), x * g / 3.0, z::scalar(0.0)); };
  struct Case {
    z::Shape x, g;
  };
  for (const Case& c : {Case{{16, 14, 2, 14, 2, 21}, {16, 14, 1, 14, 1, 21}}, Case{{8, 14, 2, 14, 37}, {8, 14, 2, 14, 37}}}) {
    z::Array x = random_array(c.x, 51), g = random_array(c.g, 52);
    const z::Array reference = z::interpret(masked)(x, g);
    for (int threads : {1, 2})
      check_close(z::jit(masked, optimized(threads))(x, g), as_ref(reference), 1e-7,
                  fmt::format("rank {}, {} thread(s)", c.x.size(), threads));
  }
}

TEST_CASE("lowering: a large concat along a later axis, one index of axis 0 at a time, equals the interpreter's") {
  // Above 1 MB a concat along axis 1 or 2 is copied image by image (a convolution's im2col);
  // below, input by input. Both are checked, on 1 and 2 threads, as exact copies.
  auto along_last = [](z::Tensor a, z::Tensor b, z::Tensor c) { return z::concat({a, b, c * 2.0}, 2); };
  auto along_middle = [](z::Tensor a, z::Tensor b, z::Tensor c) {
    return z::concat({z::transpose(a, {0, 2, 1}), z::transpose(b, {0, 2, 1}), z::transpose(c, {0, 2, 1})}, 1);
  };
  for (int64_t rows : {300, 7}) {
    z::Array a = random_array({rows, 20, 30}, 61), b = random_array({rows, 20, 17}, 62), c = random_array({rows, 20, 5}, 63);
    for (int threads : {1, 2}) {
      const std::string what = fmt::format("{} rows, {} thread(s)", rows, threads);
      check_close(z::jit(along_last, optimized(threads))(a, b, c), as_ref(z::interpret(along_last)(a, b, c)), 0,
                  "along the last axis, " + what);
      check_close(z::jit(along_middle, optimized(threads))(a, b, c), as_ref(z::interpret(along_middle)(a, b, c)), 0,
                  "along the middle axis, " + what);
    }
  }
}

TEST_CASE("lowering: transposes of batches of matrices and of rows are exact copies, on 1 and 2 threads") {
  // Moved by 16x16 blocks (the last two axes swapped) or copied row by row (the last axis in
  // place), on extents that leave remainders after 16; attention's head split and Kᵀ feed a
  // batched product, as in the LM. Other permutations stay loops and are checked too.
  struct Case {
    z::Shape shape;
    std::vector<int64_t> perm;
  };
  const Case cases[] = {{{5, 37, 21}, {0, 2, 1}},        {{3, 4, 33, 18}, {0, 1, 3, 2}}, {{6, 40, 3, 19}, {0, 2, 1, 3}},
                        {{4, 7, 9, 5, 23}, {0, 3, 1, 2, 4}}, {{64, 40, 48}, {0, 2, 1}},      {{5, 6, 7}, {2, 0, 1}},
                        {{128, 64, 4, 32}, {0, 2, 1, 3}}};
  for (const Case& c : cases) {
    auto move = [perm = c.perm](z::Tensor x) { return z::transpose(x, perm) * 1.0; };
    auto plain = [perm = c.perm](z::Tensor x) { return z::transpose(x, perm); };
    for (z::DType dtype : {z::DType::f32, z::DType::f64, z::DType::bf16}) {
      z::Array x = random_array(c.shape, 71).astype(dtype);
      const Ref reference = as_ref(z::interpret(plain)(x));
      for (int threads : {1, 2}) {
        const std::string what = fmt::format("{} by {}, {}, {} thread(s)", z::to_string(c.shape), fmt::join(c.perm, ","),
                                             z::name(dtype), threads);
        check_close(z::jit(plain, optimized(threads))(x), reference, 0, what);
        check_close(z::jit(move, optimized(threads))(x), reference, 0, what + ", times 1");
      }
    }
  }
  auto heads = [](z::Tensor q, z::Tensor k) {  // [b, t, h, d] -> scores [b, h, t, t]
    z::Tensor qh = z::transpose(q, {0, 2, 1, 3}), kh = z::transpose(k, {0, 2, 3, 1});
    return z::matmul(z::reshape(qh, {6, 37, 19}), z::reshape(kh, {6, 19, 37}));
  };
  z::Array q = random_array({2, 37, 3, 19}, 72), k = random_array({2, 37, 3, 19}, 73);
  for (int threads : {1, 2})
    check_close(z::jit(heads, optimized(threads))(q, k), as_ref(z::interpret(heads)(q, k)), 1e-5,
                fmt::format("attention scores, {} thread(s)", threads));
}

TEST_CASE("lowering: reductions shared out along their first axis give one thread's bits, and equal the interpreter") {
  // Rows of a softmax and a 2x2 max-pool (the first loop parallel: split over the threads), and
  // a sum over axis 0 (the first loop a reduction: never split), on extents with remainders.
  auto softmax_rows = [](z::Tensor x) { return z::exp(x - z::max(x, {1}, true)) / z::sum(z::exp(x), {1}, true); };
  auto pool = [](z::Tensor x) { return z::max(z::reshape(x, {37, 9, 2, 11, 2, 5}), {2, 4}); };
  auto column_sums = [](z::Tensor x) { return z::sum(x * x, {0}); };
  z::Array rows = random_array({1031, 67}, 81), images = random_array({37, 18, 22, 5}, 82), tall = random_array({4099, 33}, 83);
  const z::Array one_rows = z::jit(softmax_rows, optimized(1))(rows);
  const z::Array one_pool = z::jit(pool, optimized(1))(images);
  const z::Array one_sums = z::jit(column_sums, optimized(1))(tall);
  check_close(one_rows, as_ref(z::interpret(softmax_rows)(rows)), 1e-6, "softmax rows");
  check_close(one_pool, as_ref(z::interpret(pool)(images)), 0, "pool");
  check_close(one_sums, as_ref(z::interpret(column_sums)(tall)), 1e-4, "column sums");
  for (int threads : {2, 3}) {
    CHECK(z::jit(softmax_rows, optimized(threads))(rows).to_vector<float>() == one_rows.to_vector<float>());
    CHECK(z::jit(pool, optimized(threads))(images).to_vector<float>() == one_pool.to_vector<float>());
    CHECK(z::jit(column_sums, optimized(threads))(tall).to_vector<float>() == one_sums.to_vector<float>());
  }
}

TEST_CASE("lowering: long reductions with small results split into 8 chunks equal plain loops, the same bits on 1-3 threads") {
  // zephyr-split-long-reductions (lit: split-long-reductions.mlir): weight gradients with a small
  // C and a long k (Aᵀ·B, the CNN's first convolution, and A·B), and a bias gradient summed over
  // the batch, on extents that are not multiples of the register tile.
  auto transposed = [](z::Tensor a, z::Tensor b, z::Tensor w) {
    return w - z::scalar(0.5) * z::matmul(z::transpose(a, {1, 0}), b);
  };
  auto plain = [](z::Tensor a, z::Tensor b) { return z::matmul(a, b); };
  auto squares = [](z::Tensor x) { return z::sum(x * x, {0, 1, 2}); };
  const z::Array a = random_array({16384, 9}, 91), b = random_array({16384, 31}, 92), w = random_array({9, 31}, 93);
  const z::Array wide = random_array({7, 16384}, 94), tall = random_array({16384, 13}, 95);
  const z::Array images = random_array({64, 13, 11, 29}, 96);

  Ref want_transposed = loop_matmul(a, b, true, false);
  for (int64_t i = 0; i < w.size(); ++i) want_transposed.values[i] = w.at(i) - 0.5 * want_transposed.values[i];
  Ref want_squares{{29}, std::vector<double>(29, 0.0)};
  for (int64_t i = 0; i < images.size(); ++i) want_squares.values[i % 29] += images.at(i) * images.at(i);

  const z::Array one_transposed = z::jit(transposed, optimized(1))(a, b, w);
  const z::Array one_plain = z::jit(plain, optimized(1))(wide, tall);
  const z::Array one_squares = z::jit(squares, optimized(1))(images);
  // f32 sums of 16384 products: partial sums near 40 round at about 4e-6 each step.
  check_close(one_transposed, want_transposed, 1e-4, "w - 0.5 aᵀb, k = 16384");
  check_close(one_plain, loop_matmul(wide, tall, false, false), 1e-4, "ab, k = 16384");
  check_close(one_squares, want_squares, 1e-5, "sum of squares over 64 x 13 x 11");
  for (int threads : {2, 3}) {
    INFO(threads << " threads");
    CHECK(z::jit(transposed, optimized(threads))(a, b, w).to_vector<float>() == one_transposed.to_vector<float>());
    CHECK(z::jit(plain, optimized(threads))(wide, tall).to_vector<float>() == one_plain.to_vector<float>());
    CHECK(z::jit(squares, optimized(threads))(images).to_vector<float>() == one_squares.to_vector<float>());
  }
}

TEST_CASE("lowering: a product's elementwise user applied to each tile of C (an epilogue) equals the interpreter, on 1 and 2 threads") {
  // The products' one user reads and writes C element for element: zephyr-mark-vectorization
  // marks it zephyr.epilogue and transforms.mlir's @tile_epilogue applies it tile by tile (lit:
  // tile-and-vectorize.mlir @epilogue). Extents with remainders at the cache tile (784 = 24 x 32
  // + 16 rows, 530 = 512 + 18 columns) and at the register tile.
  auto sgd = [](z::Tensor x, z::Tensor dy, z::Tensor w) {  // a weight gradient and its update
    return w - z::scalar(0.01) * z::matmul(z::transpose(x, {1, 0}), dy);
  };
  auto masked = [](z::Tensor dy, z::Tensor w, z::Tensor h) {  // an input gradient through ReLU
    return z::where(z::greater(h, z::scalar(0.0)), z::matmul(dy, z::transpose(w, {1, 0})), z::scalar(0.0));
  };
  auto relu_layer = [](z::Tensor x, z::Tensor w) { return z::relu(z::matmul(x, w)); };
  struct Case {
    int64_t m, k, n;
  };
  for (const Case& c : {Case{784, 100, 530}, Case{37, 53, 29}, Case{128, 128, 512}}) {
    const std::string what = fmt::format("{}x{}x{}", c.m, c.k, c.n);
    const double tol = 2e-6 * std::sqrt(static_cast<double>(c.k));
    const z::Array x = random_array({c.k, c.m}, 101), dy = random_array({c.k, c.n}, 102), w = random_array({c.m, c.n}, 103);
    const z::Array rows = random_array({c.m, c.k}, 104), wt = random_array({c.n, c.k}, 105), h = random_array({c.m, c.n}, 106);
    const z::Array right = random_array({c.k, c.n}, 107);
    // The interpreter against a loop for the update: w - 0.01 xᵀ dy.
    Ref want = loop_matmul(x, dy, true, false);
    for (int64_t i = 0; i < w.size(); ++i) want.values[i] = w.at(i) - 0.01 * want.values[i];
    const z::Array reference_sgd = z::interpret(sgd)(x, dy, w);
    check_close(reference_sgd, want, 1e-5, what + ": interpreter vs loop");
    const z::Array reference_masked = z::interpret(masked)(rows, wt, h);
    const z::Array reference_relu = z::interpret(relu_layer)(rows, right);
    std::vector<std::vector<float>> one_thread;
    for (int threads : {1, 2}) {
      INFO(what << ", " << threads << " threads");
      const z::Array results[] = {z::jit(sgd, optimized(threads))(x, dy, w), z::jit(masked, optimized(threads))(rows, wt, h),
                                  z::jit(relu_layer, optimized(threads))(rows, right)};
      check_close(results[0], as_ref(reference_sgd), tol, what + ": w - 0.01 xᵀ dy");
      check_close(results[1], as_ref(reference_masked), tol, what + ": masked dy wᵀ");
      check_close(results[2], as_ref(reference_relu), tol, what + ": relu(x w)");
      // Split into row blocks with their epilogues, the products keep one thread's bits.
      for (size_t r = 0; r < 3; ++r) {
        if (threads == 1) one_thread.push_back(results[r].to_vector<float>());
        else CHECK(results[r].to_vector<float>() == one_thread[r]);
      }
    }
  }
}
