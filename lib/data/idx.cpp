// IDX reading: the whole file is inflated into memory (47 MB for the largest Fashion-MNIST
// file), then parsed with every access checked against its size.
#include "zephyr/data/idx.h"

#include "../io/regular_file.h"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

namespace zephyr::data {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& reason) {
  throw Error(fmt::format("[idx] {}: {}", path, reason));
}

uint32_t big_endian_u32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | uint32_t{p[3]};
}

const char* type_name(uint8_t type) {
  switch (type) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "short";
    case 0x0C: return "int";
    case 0x0D: return "float";
    case 0x0E: return "double";
  }
  return "not an IDX type";
}

// A gzip file ends with its uncompressed size mod 2^32 (ISIZE): reserving it saves growing the
// buffer (copies, page faults) through a 47 MB inflate. Only a hint, and never trusted beyond what
// the file can hold: deflate expands at most 1032 times, so an 18-byte file cannot claim 3 GB.
size_t size_hint(const std::string& path) {
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  const std::streamoff size = file ? static_cast<std::streamoff>(file.tellg()) : 0;
  if (size < 18) return 0;
  unsigned char magic[2], trailer[4];
  file.seekg(0);
  file.read(reinterpret_cast<char*>(magic), 2);
  file.seekg(size - 4);
  file.read(reinterpret_cast<char*>(trailer), 4);
  if (!file) return 0;
  if (magic[0] != 0x1f || magic[1] != 0x8b) return static_cast<size_t>(size);  // a plain file
  const size_t claimed = trailer[0] | trailer[1] << 8 | trailer[2] << 16 | size_t{trailer[3]} << 24;
  return std::min(claimed, static_cast<size_t>(size) * 1032);
}

// gzread also passes plain files through, so one path serves both; `was_gzip` tells which.
std::vector<uint8_t> read_all(const std::string& path, bool& was_gzip) {
  if (!std::filesystem::exists(path)) {
    bool debian = path.starts_with(std::string("/usr/share/datasets/fashion-mnist/"));
    fail(path,
         std::string("no such file") + (debian ? "; install it with: apt-get install dataset-fashion-mnist" : ""));
  }
  uint64_t file_size = 0;
  std::string error;
  int fd = io::open_regular_file(path, file_size, error);
  if (fd < 0) fail(path, error);
  std::unique_ptr<gzFile_s, int (*)(gzFile)> gz(gzdopen(fd, "rb"), &gzclose);
  if (!gz) {
    ::close(fd);
    fail(path, fmt::format("cannot open: {}", std::strerror(errno)));
  }
  // Chunks of up to 1 MB, but no larger than the file can need: each resize zero-fills a chunk,
  // and a small (or hostile) file would otherwise pay for a whole MB, page faults included.
  const size_t hint = size_hint(path);
  const unsigned chunk = static_cast<unsigned>(std::clamp<size_t>(hint + 1, 4096, size_t{1} << 20));
  std::vector<uint8_t> out;
  out.reserve(hint + chunk);  // + chunk: the last read asks for a whole chunk
  for (;;) {
    size_t done = out.size();
    out.resize(done + chunk);
    int n = gzread(gz.get(), out.data() + done, chunk);
    int err = Z_OK;
    const char* message = gzerror(gz.get(), &err);
    // A stream cut short reads as a short count with Z_BUF_ERROR, not as -1: check both.
    if (n < 0 || err != Z_OK)
      fail(path, fmt::format("corrupt or truncated gzip stream after {} decompressed bytes: {}", done + std::max(n, 0),
                             err == Z_ERRNO ? std::strerror(errno) : message));
    out.resize(done + static_cast<size_t>(n));
    if (n == 0) break;
  }
  was_gzip = gzdirect(gz.get()) == 0;
  return out;
}

}  // namespace

IdxBytes read_idx_bytes(const std::string& path) {
  bool was_gzip = false;
  std::vector<uint8_t> bytes = read_all(path, was_gzip);
  const uint64_t size = bytes.size();
  if (size < 4) fail(path, fmt::format("truncated header: {} bytes, the magic number at offset 0 needs 4", size));

  const uint32_t magic = big_endian_u32(bytes.data());
  const uint8_t type = bytes[2], ndim = bytes[3];
  if (bytes[0] != 0 || bytes[1] != 0 || ndim == 0)
    fail(path, fmt::format("bad magic 0x{:08x} at offset 0: expected 0x0000, a type byte and a nonzero "
                           "dimension count, e.g. 0x00000803{}",
                           magic, was_gzip ? "" : " (the file is not gzip-compressed either)"));
  if (type != 0x08)
    fail(path, fmt::format("unsupported element type 0x{:02x} ({}) at offset 2 of magic 0x{:08x}; only "
                           "0x08 (unsigned byte) is read",
                           type, type_name(type), magic));

  const uint64_t header = 4 + 4 * uint64_t{ndim};
  if (size < header)
    fail(path, fmt::format("truncated header: {} dimensions need {} bytes, the file has {}", ndim, header, size));
  IdxBytes out;
  uint64_t expected = 1;
  bool overflow = false;
  for (int i = 0; i < ndim; ++i) {
    uint32_t extent = big_endian_u32(bytes.data() + 4 + 4 * i);
    out.shape.push_back(extent);
    overflow |= __builtin_mul_overflow(expected, uint64_t{extent}, &expected);
  }
  const uint64_t got = size - header;
  if (overflow || got < expected)
    fail(path, fmt::format("truncated data at offset {}: shape {} expected {} bytes of data, got {}", header,
                           to_string(out.shape), overflow ? "more than 2^64" : std::to_string(expected), got));
  if (got > expected)
    fail(path, fmt::format("{} bytes of trailing garbage at offset {} after the data of shape {}", got - expected,
                           header + expected, to_string(out.shape)));
  // In place: a second 47 MB buffer would cost its page faults again.
  bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(header));
  out.values = std::move(bytes);
  return out;
}

Array read_idx(const std::string& path) {
  IdxBytes idx = read_idx_bytes(path);
  Array a(idx.shape, DType::i32);
  int32_t* out = a.data<int32_t>();
  for (size_t i = 0; i < idx.values.size(); ++i) out[i] = idx.values[i];
  return a;
}

}  // namespace zephyr::data
