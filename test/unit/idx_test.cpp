// IDX and Fashion-MNIST: small gzipped files written here with zlib, every malformed case,
// the real Debian data set when installed, and shuffling and batching.
#include <doctest/doctest.h>

#include "test_support.h"
#include <unistd.h>
#include <zephyr/data/fashion_mnist.h>
#include <zephyr/data/idx.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <numeric>
#include <set>

namespace z = zephyr;
namespace fs = std::filesystem;

namespace {

using z::testing::contains;
using z::testing::error_of;

struct TempDir : z::testing::TempDir {
  TempDir() : z::testing::TempDir("zephyr_idx") {}
};

// An IDX file image: magic, big-endian extents, then `data`.
std::string idx(uint32_t magic, const std::vector<uint32_t>& dims, const std::string& data) {
  std::string s;
  auto put = [&](uint32_t v) {
    for (int shift : {24, 16, 8, 0}) s += static_cast<char>(v >> shift);
  };
  put(magic);
  for (uint32_t d : dims) put(d);
  return s + data;
}

std::string ubytes(std::initializer_list<int> values) {
  std::string s;
  for (int v : values) s += static_cast<char>(v);
  return s;
}

void write_gz(const std::string& path, const std::string& bytes) {
  gzFile gz = gzopen(path.c_str(), "wb");
  REQUIRE(gz != nullptr);
  if (!bytes.empty())
    REQUIRE(gzwrite(gz, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
  REQUIRE(gzclose(gz) == Z_OK);
}

void write_plain(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_plain(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A Fashion-MNIST-shaped split "train" in `dir`: `n` images whose pixels are (i + p) % 256.
void write_fashion(const TempDir& dir, uint32_t images, const std::string& labels, uint32_t side = 28) {
  std::string pixels;
  for (uint32_t i = 0; i < images * side * side; ++i) pixels += static_cast<char>(i % 256);
  write_gz(dir.file("train-images-idx3-ubyte.gz"), idx(0x803, {images, side, side}, pixels));
  write_gz(dir.file("train-labels-idx1-ubyte.gz"), idx(0x801, {static_cast<uint32_t>(labels.size())}, labels));
}

}  // namespace

TEST_CASE("idx reads gzipped and plain files as i32 arrays of the file's shape") {
  TempDir dir;
  std::string data = ubytes({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 254, 255});
  write_gz(dir.file("a.gz"), idx(0x803, {2, 2, 3}, data));
  write_plain(dir.file("a"), idx(0x803, {2, 2, 3}, data));
  for (const char* name : {"a.gz", "a"}) {
    CAPTURE(name);
    z::Array a = z::data::read_idx(dir.file(name));
    CHECK(a.dtype() == z::DType::i32);
    CHECK(a.shape() == z::Shape{2, 2, 3});
    CHECK(a.to_vector<int32_t>() == std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 254, 255});
  }
  write_gz(dir.file("labels.gz"), idx(0x801, {3}, ubytes({9, 0, 3})));
  z::Array labels = z::data::read_idx(dir.file("labels.gz"));
  CHECK(labels.shape() == z::Shape{3});
  CHECK(labels.to_vector<int32_t>() == std::vector<int32_t>{9, 0, 3});
}

TEST_CASE("idx error: missing file, with the Debian package hint under its directory") {
  CHECK_ERROR(z::data::read_idx("/nonexistent/x-idx1-ubyte.gz"), "[idx] /nonexistent/x-idx1-ubyte.gz: no such file");
  CHECK_FALSE(contains(error_of([] { z::data::read_idx("/nonexistent/x.gz"); }), "apt-get"));
  CHECK_ERROR(z::data::read_idx("/usr/share/datasets/fashion-mnist/no-such-idx1-ubyte.gz"),
              "no such file; install it with: apt-get install dataset-fashion-mnist");
}

TEST_CASE("idx error: bad magic, shown in hex") {
  TempDir dir;
  write_gz(dir.file("m.gz"), idx(0x12340803, {1}, "x"));
  CHECK_ERROR(z::data::read_idx(dir.file("m.gz")), dir.file("m.gz"), "bad magic 0x12340803 at offset 0");
  write_gz(dir.file("zero.gz"), idx(0x800, {}, ""));
  CHECK_ERROR(z::data::read_idx(dir.file("zero.gz")), "bad magic 0x00000800 at offset 0");
  // Neither gzip nor IDX: the message says so.
  write_plain(dir.file("text"), "hello world\n");
  CHECK_ERROR(z::data::read_idx(dir.file("text")), "bad magic 0x68656c6c at offset 0",
              "(the file is not gzip-compressed either)");
}

TEST_CASE("idx error: unsupported element type") {
  TempDir dir;
  write_gz(dir.file("f.gz"), idx(0x00000D01, {1}, "abcd"));
  CHECK_ERROR(z::data::read_idx(dir.file("f.gz")),
              "unsupported element type 0x0d (float) at offset 2 of magic 0x00000d01; only 0x08 (unsigned byte)");
}

TEST_CASE("idx error: truncated header") {
  TempDir dir;
  write_gz(dir.file("h.gz"), idx(0x803, {2}, ""));  // 3 extents declared, 1 present
  CHECK_ERROR(z::data::read_idx(dir.file("h.gz")), "truncated header: 3 dimensions need 16 bytes, the file has 8");
  write_gz(dir.file("tiny.gz"), ubytes({0, 0}));
  CHECK_ERROR(z::data::read_idx(dir.file("tiny.gz")),
              "truncated header: 2 bytes, the magic number at offset 0 needs 4");
  write_gz(dir.file("empty.gz"), "");
  CHECK_ERROR(z::data::read_idx(dir.file("empty.gz")), "truncated header: 0 bytes");
}

TEST_CASE("idx error: truncated data and trailing garbage") {
  TempDir dir;
  write_gz(dir.file("d.gz"), idx(0x803, {1, 3, 4}, "12345"));
  CHECK_ERROR(z::data::read_idx(dir.file("d.gz")),
              "truncated data at offset 16: shape [1, 3, 4] expected 12 bytes of data, got 5");
  write_gz(dir.file("huge.gz"), idx(0x803, {0xffffffff, 0xffffffff, 0xffffffff}, "1"));
  CHECK_ERROR(z::data::read_idx(dir.file("huge.gz")), "expected more than 2^64 bytes of data, got 1");
  write_gz(dir.file("t.gz"), idx(0x801, {2}, "12xyz"));
  CHECK_ERROR(z::data::read_idx(dir.file("t.gz")),
              "3 bytes of trailing garbage at offset 10 after the data of shape [2]");
}

TEST_CASE("idx error: corrupt and truncated gzip streams") {
  TempDir dir;
  write_gz(dir.file("good.gz"), idx(0x801, {64}, std::string(64, '\x05')));
  std::string good = read_plain(dir.file("good.gz"));
  std::string corrupt = good.substr(0, 10) + std::string(good.size() - 10, '\xff');
  write_plain(dir.file("corrupt.gz"), corrupt);
  CHECK_ERROR(z::data::read_idx(dir.file("corrupt.gz")), dir.file("corrupt.gz"), "corrupt or truncated gzip stream");
  write_plain(dir.file("cut.gz"), good.substr(0, good.size() / 2));
  CHECK_ERROR(z::data::read_idx(dir.file("cut.gz")), "corrupt or truncated gzip stream after",
              "unexpected end of file");
}

TEST_CASE("idx fashion_mnist loads a split: pixels / 255 in rows of 784, labels as i32") {
  TempDir dir;
  write_fashion(dir, 3, ubytes({9, 0, 4}));
  z::data::Dataset d = z::data::load_fashion_mnist("train", dir.path.string());
  CHECK(d.size() == 3);
  CHECK(d.images.shape() == z::Shape{3, 784});
  CHECK(d.images.dtype() == z::DType::f32);
  CHECK(d.images.data<float>()[255] == 1.0f);
  CHECK(d.images.data<float>()[784 + 3] == static_cast<float>((784 + 3) % 256) / 255.0f);
  CHECK(d.labels.to_vector<int32_t>() == std::vector<int32_t>{9, 0, 4});
}

TEST_CASE("idx fashion_mnist errors: counts disagree, label out of range, wrong image size, split, missing") {
  TempDir dir;
  std::string images = dir.file("train-images-idx3-ubyte.gz"), labels = dir.file("train-labels-idx1-ubyte.gz");
  write_fashion(dir, 3, ubytes({1, 2}));
  CHECK_ERROR(z::data::load_fashion_mnist("train", dir.path.string()),
              "[fashion_mnist] " + images + " has 3 images but " + labels + " has 2 labels");
  write_fashion(dir, 3, ubytes({1, 12, 2}));
  CHECK_ERROR(z::data::load_fashion_mnist("train", dir.path.string()),
              "[fashion_mnist] " + labels + ": label 12 at index 1 (offset 9) is outside 0..9");
  write_fashion(dir, 2, ubytes({1, 2}), 27);
  CHECK_ERROR(z::data::load_fashion_mnist("train", dir.path.string()),
              images + ": images have shape [2, 27, 27], expected [n, 28, 28]");
  CHECK_ERROR(z::data::load_fashion_mnist("validation", dir.path.string()),
              "unknown split 'validation' (expected \"train\" or \"test\")");
  CHECK_ERROR(z::data::load_fashion_mnist("test", dir.path.string()), "t10k-images-idx3-ubyte.gz: no such file");
}

TEST_CASE("idx fashion_mnist: the real Debian test split") {
  if (!fs::exists(z::data::kFashionMnistDir)) {
    MESSAGE("skipped: " << z::data::kFashionMnistDir << " is absent (apt-get install dataset-fashion-mnist)");
    return;
  }
  z::data::Dataset d = z::data::load_fashion_mnist("test");
  CHECK(d.size() == 10000);
  CHECK(d.images.shape() == z::Shape{10000, 784});
  auto [lo, hi] = std::ranges::minmax(d.images.values<float>());
  CHECK(lo == 0.0f);
  CHECK(hi == 1.0f);
  auto labels = d.labels.values<int32_t>();
  CHECK(std::ranges::all_of(labels, [](int32_t l) { return 0 <= l && l <= 9; }));
  CHECK(std::set<int32_t>(labels.begin(), labels.end()).size() == 10);
  CHECK(labels[0] == 9);  // ankle boot
}

TEST_CASE("idx permutation is a permutation, deterministic per key, and differs across keys") {
  for (int64_t n : {0, 1, 2, 10, 1000, 60000}) {
    CAPTURE(n);
    std::vector<int64_t> p = z::data::permutation(z::random::key(0), n);
    std::vector<int64_t> sorted = p;
    std::sort(sorted.begin(), sorted.end());
    std::vector<int64_t> iota(n);
    std::iota(iota.begin(), iota.end(), 0);
    CHECK(sorted == iota);
    CHECK(z::data::permutation(z::random::key(0), n) == p);
    if (n >= 10) {
      CHECK(p != iota);
      CHECK(z::data::permutation(z::random::key(1), n) != p);
    }
  }
  CHECK_ERROR(z::data::permutation(z::random::key(0), -1), "negative size -1");
}

TEST_CASE("idx batches cover every index once, and drop_last drops only the short batch") {
  auto key = z::random::key(42);
  auto full = z::data::batches(key, 10, 4, /*drop_last=*/false);
  REQUIRE(full.size() == 3);
  CHECK(full[2].size() == 2);
  std::vector<int64_t> all;
  for (const auto& b : full) all.insert(all.end(), b.begin(), b.end());
  CHECK(all == z::data::permutation(key, 10));
  auto dropped = z::data::batches(key, 10, 4);
  REQUIRE(dropped.size() == 2);
  CHECK(dropped[0] == full[0]);
  CHECK(dropped[1] == full[1]);
  CHECK(z::data::batches(key, 8, 4).size() == 2);
  CHECK_ERROR(z::data::batches(key, 8, 0), "batch size 0 is not positive");
}

TEST_CASE("idx batch gathers rows of images and labels") {
  z::data::Dataset d{z::Array::from({3, 2}, {0.f, 1.f, 10.f, 11.f, 20.f, 21.f}),
                     z::Array::from<int32_t>({3}, {7, 8, 9})};
  std::vector<int64_t> indices = {2, 0, 2};
  z::data::Dataset b = z::data::batch(d, indices);
  CHECK(b.images.shape() == z::Shape{3, 2});
  CHECK(b.images.to_vector<float>() == std::vector<float>{20, 21, 0, 1, 20, 21});
  CHECK(b.labels.to_vector<int32_t>() == std::vector<int32_t>{9, 7, 9});
  std::vector<int64_t> bad = {0, 3};
  CHECK_ERROR(z::data::batch(d, bad), "index 3 (position 1) is out of range for 3 examples");
}
