#include "kernel_cache.h"

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <array>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/SHA256.h"

namespace zephyr::compiler::kernel_cache {
namespace {

constexpr char kMagic[8] = {'Z', 'E', 'P', 'H', 'K', 'C', '0', '1'};

std::array<uint8_t, 32> sha256(const std::string& bytes) {
  return llvm::SHA256::hash(llvm::ArrayRef<uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

std::string hex(const std::array<uint8_t, 32>& digest) {
  std::string out;
  for (uint8_t b : digest) out += fmt::format("{:02x}", b);
  return out;
}

void put_u64(std::string& out, uint64_t v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); }

bool get_u64(const std::string& in, size_t& at, uint64_t& v) {
  if (in.size() - at < sizeof v) return false;
  std::memcpy(&v, in.data() + at, sizeof v);
  at += sizeof v;
  return true;
}

}  // namespace

// Read at each use, not once: a program (the bench's cold-compile rows) may point the cache at
// another directory between compiles.
std::string directory() {
  const char* off = std::getenv("ZEPHYR_CACHE");
  if (off && std::string_view(off) == "0") return {};
  if (const char* d = std::getenv("ZEPHYR_CACHE_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/zephyr";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/zephyr";
  return {};
}

std::string entry_path(const std::string& key) {
  std::string dir = directory();
  return dir.empty() ? "" : dir + "/" + hex(sha256(key)) + ".kernel";
}

std::optional<std::string> load(const std::string& key) {
  std::string path = entry_path(key);
  if (path.empty()) return std::nullopt;
  std::ifstream file(path, std::ios::binary);
  if (!file) return std::nullopt;
  std::stringstream buffer;
  buffer << file.rdbuf();
  const std::string bytes = buffer.str();
  // magic | key length | key | object length | object | SHA-256 of everything before it
  size_t at = sizeof kMagic;
  uint64_t key_size = 0, object_size = 0;
  if (bytes.size() < sizeof kMagic + 32 || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) return std::nullopt;
  if (!get_u64(bytes, at, key_size) || key_size > bytes.size() - at) return std::nullopt;
  if (bytes.compare(at, key_size, key) != 0 || key_size != key.size()) return std::nullopt;
  at += key_size;
  if (!get_u64(bytes, at, object_size) || object_size > bytes.size() - at || bytes.size() - at - object_size != 32)
    return std::nullopt;
  auto digest = sha256(bytes.substr(0, at + object_size));
  if (std::memcmp(digest.data(), bytes.data() + at + object_size, 32) != 0) return std::nullopt;
  return bytes.substr(at, object_size);
}

void store(const std::string& key, const std::string& object) {
  std::string path = entry_path(key);
  if (path.empty()) return;
  std::string bytes(kMagic, sizeof kMagic);
  put_u64(bytes, key.size());
  bytes += key;
  put_u64(bytes, object.size());
  bytes += object;
  auto digest = sha256(bytes);
  bytes.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  static std::atomic<uint64_t> counter{0};
  std::string temporary = fmt::format("{}.{}.{}.tmp", path, getpid(), counter++);
  std::error_code error;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), error);
  {
    std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
    file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!file.flush()) {
      std::filesystem::remove(temporary, error);
      return;
    }
  }
  std::filesystem::rename(temporary, path, error);  // atomic on one file system
  if (error) std::filesystem::remove(temporary, error);
}

}  // namespace zephyr::compiler::kernel_cache
