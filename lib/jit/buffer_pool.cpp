#include "buffer_pool.h"

#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace zephyr::jit_runtime {
namespace {

// Each block carries its size in a 64-byte header, so free() needs no lookup and the payload
// keeps malloc's alignment (the compiled code aligns within the block itself).
constexpr size_t kHeader = 64;

struct Pool {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;  // by payload size
  size_t pooled = 0;
};

Pool& pool() {
  static Pool* p = new Pool;  // never destroyed: compiled code may free during static destruction
  return *p;
}

}  // namespace

void* buffer_alloc(size_t bytes) {
  Pool& p = pool();
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    auto it = p.free_blocks.find(bytes);
    if (it != p.free_blocks.end() && !it->second.empty()) {
      void* block = it->second.back();
      it->second.pop_back();
      p.pooled -= bytes;
      return static_cast<char*>(block) + kHeader;
    }
  }
  void* block = std::malloc(bytes + kHeader);
  if (!block) return nullptr;
  *static_cast<size_t*>(block) = bytes;
  return static_cast<char*>(block) + kHeader;
}

void buffer_free(void* payload) {
  if (!payload) return;
  void* block = static_cast<char*>(payload) - kHeader;
  size_t bytes = *static_cast<size_t*>(block);
  Pool& p = pool();
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    if (p.pooled + bytes <= kPoolBytes) {
      p.free_blocks[bytes].push_back(block);
      p.pooled += bytes;
      return;
    }
  }
  std::free(block);
}

}  // namespace zephyr::jit_runtime
