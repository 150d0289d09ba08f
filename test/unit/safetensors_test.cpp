// Safetensors: bitwise round trips, the exact byte layout, atomic saves, and one clear error
// per kind of malformed file.
#include <doctest/doctest.h>

#include "test_support.h"
#include <unistd.h>
#include <zephyr/io/safetensors.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>

namespace z = zephyr;
namespace fs = std::filesystem;

namespace {

using z::testing::contains;
using z::testing::error_of;

struct TempDir : z::testing::TempDir {
  TempDir() : z::testing::TempDir("zephyr_safetensors") {}
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string u64le(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(v >> (8 * i));
  return s;
}

// A file with `header` (unpadded) and `data`, as a careless or hostile writer would make it.
std::string raw_file(const std::string& header, const std::string& data) {
  return u64le(header.size()) + header + data;
}

// Loads a file made of `header` and `data` (for the error it throws).
void load_raw(const std::string& header, const std::string& data = "") {
  TempDir dir;
  std::string path = dir.file("bad.safetensors");
  write_bytes(path, raw_file(header, data));
  z::io::load_safetensors(path);
}

}  // namespace

TEST_CASE("safetensors round trip is bitwise for every dtype, a scalar, an empty tensor and metadata") {
  TempDir dir;
  float nan_payload;
  uint32_t bits = 0x7fc01234;
  std::memcpy(&nan_payload, &bits, 4);
  const bool mask[] = {true, false, true, true, false};
  z::io::NamedArrays tensors = {
      {"layer/w", z::Array::from<float>(
                      {2, 3}, {1.5f, -0.0f, nan_payload, 1e-42f, std::numeric_limits<float>::infinity(), 3.25f})},
      {"f64", z::Array::from<double>({4}, {1.0 / 3.0, -2.5e300, 4.9e-324, 0.0})},
      {"ints", z::Array::from<int32_t>({3}, {INT32_MIN, -1, INT32_MAX})},
      {"mask", z::Array::from<bool>({5}, std::span<const bool>(mask))},
      {"step", z::Array::scalar<int32_t>(7)},
      {"empty", z::Array({0, 3}, z::DType::f32)},
  };
  std::map<std::string, std::string> metadata = {{"format", "pt"}, {"epoch", "3"}, {"note", "ünïcode ok"}};
  std::string path = dir.file("ckpt.safetensors");
  z::io::save_safetensors(path, tensors, metadata);

  z::io::NamedArrays loaded = z::io::load_safetensors(path);
  REQUIRE(loaded.size() == tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    CAPTURE(tensors[i].first);
    CHECK(loaded[i].first == tensors[i].first);  // data-offset order is the saved order
    CHECK(loaded[i].second.bitwise_equal(tensors[i].second));
  }
  CHECK(z::io::load_safetensors_metadata(path) == metadata);

  std::string bytes = read_bytes(path);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  CHECK(n % 8 == 0);
  CHECK(bytes.size() == 8 + n + 24 + 32 + 12 + 5 + 4 + 0);
  CHECK(bytes[8] == '{');
}

TEST_CASE("safetensors byte layout of a tiny file is exactly the spec's") {
  TempDir dir;
  std::string path = dir.file("tiny.safetensors");
  z::io::save_safetensors(path, {{"a", z::Array::from({2}, {1.0f, -2.0f})}, {"b", z::Array::scalar(true)}},
                          {{"k", "v"}});
  // 132 bytes of JSON padded with 4 spaces to 136 = 0x88, then f32 1.0, f32 -2.0, bool true.
  const std::string expected = std::string("\x88\0\0\0\0\0\0\0", 8) +
                               R"({"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                               R"("b":{"dtype":"BOOL","shape":[],"data_offsets":[8,9]}}    )" +
                               std::string("\x00\x00\x80\x3f\x00\x00\x00\xc0\x01", 9);
  CHECK(read_bytes(path) == expected);
}

TEST_CASE("safetensors without metadata omits __metadata__") {
  TempDir dir;
  std::string path = dir.file("plain.safetensors");
  z::io::save_safetensors(path, {{"x", z::Array::scalar(1.0)}});
  CHECK_FALSE(contains(read_bytes(path), "__metadata__"));
  CHECK(z::io::load_safetensors_metadata(path).empty());
}

TEST_CASE("safetensors reads a valid hand-written file: unpadded header, offset order, extra fields") {
  TempDir dir;
  std::string path = dir.file("hand.safetensors");
  // "b" comes first in the data section, so it comes first in the result.
  write_bytes(path, raw_file(R"({"a":{"dtype":"I32","shape":[1],"data_offsets":[4,8],"extra":1},)"
                             R"("b":{"dtype":"I32","shape":[],"data_offsets":[0,4]}})",
                             std::string("\x07\0\0\0\x09\0\0\0", 8)));
  z::io::NamedArrays loaded = z::io::load_safetensors(path);
  REQUIRE(loaded.size() == 2);
  CHECK(loaded[0].first == "b");
  CHECK(loaded[0].second.item<int32_t>() == 7);
  CHECK(loaded[1].first == "a");
  CHECK(loaded[1].second.to_vector<int32_t>() == std::vector<int32_t>{9});
}

TEST_CASE("safetensors save is atomic: no temporary file remains after a successful save") {
  TempDir dir;
  std::string path = dir.file("ckpt.safetensors");
  z::io::save_safetensors(path, {{"w", z::Array::ones({3})}});
  z::io::save_safetensors(path, {{"w", z::Array::zeros({4})}});  // over an existing file
  CHECK(dir.listing() == std::vector<std::string>{"ckpt.safetensors"});
  CHECK(z::io::load_safetensors(path)[0].second.bitwise_equal(z::Array::zeros({4})));
}

TEST_CASE("safetensors a failing save leaves the old file byte-identical") {
  TempDir dir;
  std::string path = dir.file("ckpt.safetensors");
  z::io::save_safetensors(path, {{"w", z::Array::ones({3})}}, {{"step", "1"}});
  const std::string before = read_bytes(path);

  CHECK_ERROR(z::io::save_safetensors(path, {{"w", z::Array::ones({3})}, {"", z::Array::ones({1})}}), path,
              "tensor 1 has an empty name");
  CHECK_ERROR(z::io::save_safetensors(
                  path, {{"w", z::Array::ones({3})}, {"v", z::Array::ones({1})}, {"w", z::Array::ones({2})}}),
              "duplicate tensor name 'w' (tensors 0 and 2)");
  CHECK_ERROR(z::io::save_safetensors(path, {{"__metadata__", z::Array::ones({1})}}), "is reserved");
  CHECK_ERROR(z::io::save_safetensors(path, {{"w", z::Array()}}), "tensor 'w' is an undefined Array");
  CHECK_ERROR(z::io::save_safetensors(path, {{"bad\xff", z::Array::ones({1})}}), "not valid UTF-8");

  CHECK(read_bytes(path) == before);
  CHECK(dir.listing() == std::vector<std::string>{"ckpt.safetensors"});
}

TEST_CASE("safetensors save into a missing directory fails and names the temporary file") {
  TempDir dir;
  std::string path = dir.file("no/such/dir/ckpt.safetensors");
  CHECK_ERROR(z::io::save_safetensors(path, {{"w", z::Array::ones({1})}}), path, "cannot create", ".tmp.",
              "No such file or directory");
  CHECK(dir.listing().empty());
}

// ---- Malformed files: each names the file, the tensor, the offset and the reason. ----

TEST_CASE("safetensors error: missing file") {
  CHECK_ERROR(z::io::load_safetensors("/nonexistent/x.safetensors"),
              "[safetensors] /nonexistent/x.safetensors: cannot open: No such file or directory");
}

TEST_CASE("safetensors error: file shorter than the 8-byte header length") {
  TempDir dir;
  std::string path = dir.file("short.safetensors");
  write_bytes(path, std::string("\x05\0\0\0\0", 5));
  CHECK_ERROR(z::io::load_safetensors(path),
              "[safetensors] " + path + ": file has 5 bytes, too short for the 8-byte header length");
}

TEST_CASE("safetensors error: header length beyond the file size") {
  TempDir dir;
  std::string path = dir.file("long.safetensors");
  write_bytes(path, u64le(999999) + std::string(112, ' '));
  CHECK_ERROR(z::io::load_safetensors(path),
              "[safetensors] " + path + ": header length 999999 at offset 0 exceeds the file size 120");
  // A length near 2^64 must not wrap around the size check.
  write_bytes(path, u64le(~uint64_t{0}) + "{}");
  CHECK_ERROR(z::io::load_safetensors(path), "header length 18446744073709551615 at offset 0 exceeds the file size 10");
}

TEST_CASE("safetensors error: header not JSON, or not an object") {
  CHECK_ERROR(load_raw(R"({"a": )"), "header is not valid JSON (at offset 14)");
  CHECK_ERROR(load_raw(R"({"a": 1,,})"), "header is not valid JSON (at offset 16)", "unexpected ','");
  CHECK_ERROR(load_raw(""), "header is not valid JSON");
  CHECK_ERROR(load_raw("[1, 2]"), "header at offset 8 is not a JSON object but array");
}

TEST_CASE("safetensors error: an entry that is not an object, or misses a field") {
  CHECK_ERROR(load_raw(R"({"a": 3})"), "tensor 'a': entry is not an object but 3");
  CHECK_ERROR(load_raw(R"({"a": {"shape": [], "data_offsets": [0, 4]}})", "1234"),
              "tensor 'a': missing field \"dtype\"");
  CHECK_ERROR(load_raw(R"({"a": {"dtype": "F32", "data_offsets": [0, 4]}})", "1234"),
              "tensor 'a': missing field \"shape\"");
  CHECK_ERROR(load_raw(R"({"a": {"dtype": "F32", "shape": []}})", "1234"),
              "tensor 'a': missing field \"data_offsets\"");
}

TEST_CASE("safetensors error: unknown or non-string dtype") {
  CHECK_ERROR(load_raw(R"({"h": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}})", "12"),
              "tensor 'h': unsupported dtype \"F8_E4M3\" (zephyr reads F32, F64, I32, BOOL, BF16, F16, I64, U8, I8)");
  CHECK_ERROR(load_raw(R"({"h": {"dtype": 4, "shape": [1], "data_offsets": [0, 4]}})", "1234"),
              "tensor 'h': dtype 4 is not a string");
}

TEST_CASE("safetensors error: negative, fractional or non-numeric dimensions") {
  CHECK_ERROR(load_raw(R"({"w": {"dtype": "F32", "shape": [2, -1], "data_offsets": [0, 0]}})"),
              "tensor 'w': shape [2,-1] has dimension -1, not a non-negative integer");
  CHECK_ERROR(load_raw(R"({"w": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 0]}})"),
              "has dimension 1.5, not a non-negative integer");
  CHECK_ERROR(load_raw(R"({"w": {"dtype": "F32", "shape": ["2"], "data_offsets": [0, 0]}})"), "has dimension \"2\"");
  CHECK_ERROR(load_raw(R"({"w": {"dtype": "F32", "shape": 2, "data_offsets": [0, 0]}})"),
              "tensor 'w': shape 2 is not an array");
}

TEST_CASE("safetensors error: data_offsets not two non-negative integers") {
  for (const char* offsets : {"[0]", "[0, 4, 8]", "[0, \"4\"]", "[0, -4]", "[0, 4.0]", "\"0-4\""}) {
    CAPTURE(offsets);
    CHECK_ERROR(
        load_raw(std::string(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": )") + offsets + "}}", "1234"),
        "tensor 'w': data_offsets", "is not two non-negative integers");
  }
}

TEST_CASE("safetensors error: end before begin, and end beyond the data section") {
  CHECK_ERROR(load_raw(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}})", "1234"),
              "tensor 'w': data_offsets [4, 0] end before begin");
  std::string header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";  // 54 bytes
  CHECK_ERROR(load_raw(header, "1234"),
              "tensor 'w': data_offsets [0, 8] end at file offset 70 is beyond the end of the data section "
              "(4 bytes from offset 62)");
}

TEST_CASE("safetensors error: byte length differs from numel * itemsize") {
  CHECK_ERROR(load_raw(R"({"w": {"dtype": "F64", "shape": [3], "data_offsets": [0, 8]}})", "12345678"),
              "tensor 'w': f64[3] needs 24 bytes but data_offsets [0, 8] hold 8");
  CHECK_ERROR(load_raw(R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 4]}})", "1234"),
              "tensor 'w': f32[4294967296, 4294967296] needs more than 2^64 bytes");
}

TEST_CASE("safetensors error: overlapping, gapped or trailing data") {
  CHECK_ERROR(load_raw(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                       R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                       "123456789012"),
              "tensor 'b' (data_offsets [4, 12]) overlaps tensor 'a' (data_offsets [0, 8]) at file offset");
  std::string gapped = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                       R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})";
  CHECK_ERROR(load_raw(gapped, "123456789012"), "gap in the data section: bytes [4, 8) at file offset " +
                                                    std::to_string(8 + gapped.size() + 4) +
                                                    " before tensor 'b' belong to no tensor");
  std::string trailing = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  CHECK_ERROR(load_raw(trailing, "12345678"), "4 bytes at file offset " + std::to_string(8 + trailing.size() + 4) +
                                                  " after the last tensor belong to no tensor");
}

TEST_CASE("safetensors error: duplicate tensor names") {
  CHECK_ERROR(load_raw(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},)"
                       R"( "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                       "12345678"),
              "duplicate tensor name 'a' in the header");
}

TEST_CASE("safetensors error: malformed __metadata__ and invalid BOOL bytes") {
  CHECK_ERROR(load_raw(R"({"__metadata__": [1]})"), "__metadata__ is not an object but [1]");
  CHECK_ERROR(load_raw(R"({"__metadata__": {"epoch": 3}})"), "__metadata__ value of 'epoch' is not a string but 3");
  std::string header = R"({"m":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}})";
  CHECK_ERROR(
      load_raw(header, std::string("\x01\x00\x02", 3)),
      "tensor 'm': byte 0x02 at file offset " + std::to_string(8 + header.size() + 2) + " is not a BOOL (0 or 1)");
}

// ---- ParamTree checkpoints. ----

TEST_CASE("safetensors ParamTree save/load returns the template's order") {
  TempDir dir;
  std::string path = dir.file("params.safetensors");
  z::ParamTree saved({{"decoder/w", z::Array::full({2, 2}, 3.0)},
                      {"encoder/b", z::Array::from({2}, {1.f, 2.f})},
                      {"encoder/w", z::Array::ones({2, 2}, z::DType::f64)}});
  z::io::save(path, saved, {{"model", "autoencoder"}});
  z::ParamTree like({{"encoder/w", z::Array::zeros({2, 2}, z::DType::f64)},
                     {"encoder/b", z::Array::zeros({2})},
                     {"decoder/w", z::Array::zeros({2, 2})}});
  z::ParamTree loaded = z::io::load(path, like);
  REQUIRE(loaded.size() == 3);
  CHECK(loaded.leaves()[0].first == "encoder/w");
  CHECK(loaded.leaves()[1].first == "encoder/b");
  CHECK(loaded.leaves()[2].first == "decoder/w");
  for (const auto& [name, array] : loaded) CHECK(array.bitwise_equal(saved.at(name)));
  CHECK(z::io::load_safetensors_metadata(path).at("model") == "autoencoder");
}

TEST_CASE("safetensors load(path, like) lists every mismatching path in one error") {
  TempDir dir;
  std::string path = dir.file("params.safetensors");
  z::io::save(path, z::ParamTree({{"encoder/w", z::Array::zeros({784, 256})},
                                  {"encoder/b", z::Array::zeros({256})},
                                  {"decoder/w", z::Array::zeros({3})},
                                  {"head/extra", z::Array::zeros({1})},
                                  {"both", z::Array::zeros({2}, z::DType::i32)}}));
  z::ParamTree like({{"encoder/w", z::Array::zeros({784, 512})},
                     {"encoder/b", z::Array::zeros({256})},
                     {"decoder/w", z::Array::zeros({3}, z::DType::f64)},
                     {"head/missing", z::Array::zeros({2})},
                     {"both", z::Array::zeros({3})}});
  CHECK_ERROR(
      z::io::load(path, like), "[safetensors] " + path + ": checkpoint does not match the parameters (5 mismatches):",
      "\n  encoder/w: wrong shape: expected f32[784, 512], file has f32[784, 256]",
      "\n  decoder/w: wrong dtype: expected f64[3], file has f32[3]", "\n  head/missing: missing (expected f32[2])",
      "\n  both: wrong dtype and shape: expected f32[3], file has i32[2]",
      "\n  head/extra: unexpected (file has f32[1])");
  CHECK_FALSE(contains(error_of([&] { z::io::load(path, like); }), "encoder/b"));
}

TEST_CASE("safetensors load with a prefix reads one sub-tree; not strict, it keeps what the file lacks") {
  TempDir dir;
  std::string path = dir.file("model.safetensors");
  const z::ParamTree saved({{"encoder/0/weights", z::Array::full({2, 3}, 1.5)},
                            {"encoder/0/bias", z::Array::from({3}, {1.f, 2.f, 3.f})},
                            {"decoder/0/weights", z::Array::full({3, 2}, -2.0)}});
  z::io::save(path, saved);
  // The encoder alone, as a model that uses it as a sub-tree sees it.
  const z::ParamTree encoder_like({{"0/weights", z::Array::zeros({2, 3})}, {"0/bias", z::Array::zeros({3})}});
  const z::ParamTree encoder = z::io::load(path, encoder_like, {.prefix = "encoder/"});
  CHECK(encoder.at("0/weights").bitwise_equal(saved.at("encoder/0/weights")));
  CHECK(encoder.at("0/bias").bitwise_equal(saved.at("encoder/0/bias")));

  // A bigger model: strict, the new head is missing; not strict, it keeps its initial values.
  const z::ParamTree grown({{"0/weights", z::Array::zeros({2, 3})}, {"0/bias", z::Array::zeros({3})},
                            {"head/weights", z::Array::full({3, 4}, 0.25)}});
  CHECK_ERROR(z::io::load(path, grown, {.prefix = "encoder/"}), "encoder/head/weights: missing (expected f32[3, 4])");
  const z::ParamTree partial = z::io::load(path, grown, {.prefix = "encoder/", .strict = false});
  CHECK(partial.at("0/weights").bitwise_equal(saved.at("encoder/0/weights")));
  CHECK(partial.at("head/weights").bitwise_equal(grown.at("head/weights")));
  // The whole file into the encoder's tree, not strict: the decoder's name is ignored.
  const z::ParamTree same({{"encoder/0/bias", z::Array::zeros({3})}});
  CHECK(z::io::load(path, same, {.strict = false}).at("encoder/0/bias").bitwise_equal(saved.at("encoder/0/bias")));

  // Not strict is no licence for a wrong shape, or for a prefix under which nothing matches.
  const z::ParamTree wrong({{"0/bias", z::Array::zeros({4})}});
  CHECK_ERROR(z::io::load(path, wrong, {.prefix = "encoder/", .strict = false}),
              "encoder/0/bias: wrong shape: expected f32[4], file has f32[3]");
  CHECK_ERROR(z::io::load(path, encoder_like, {.prefix = "enc/", .strict = false}),
              "none of the 2 parameters is in the file under the prefix 'enc/'; it holds 3 tensors:",
              "encoder/0/weights f32[2, 3]", "decoder/0/weights f32[3, 2]");
}

TEST_CASE("safetensors save of a leaf tree (path \"\") is rejected as an empty name") {
  TempDir dir;
  CHECK_ERROR(z::io::save(dir.file("leaf.safetensors"), z::ParamTree({{"", z::Array::ones({1})}})),
              "tensor 0 has an empty name");
}
