#include "buffer_pool.h"

#include <malloc.h>
#include <sys/mman.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace zephyr::buffer_pool {
namespace {

// Under AddressSanitizer every block goes back to the allocator, so that a use after release
// is still reported.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kPooling = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kPooling = false;
#else
constexpr bool kPooling = true;
#endif
#else
constexpr bool kPooling = true;
#endif

// Each block carries its size in a header of one alignment unit, so release() needs no lookup
// and the payload stays 64-byte aligned.
constexpr size_t kHeader = kAlignment;
constexpr size_t kHugePage = size_t{2} << 20, kHugeBlock = size_t{4} << 20;


struct Pool {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;  // by payload size
  size_t pooled = 0;
};

Pool& pool() {
  static Pool* p = new Pool;  // never destroyed: Arrays and compiled code free during static destruction
  return *p;
}

// Small blocks (a batch-1 call's results and intermediates) cycle through a cache of the thread
// that freed them, without the pool's lock: a jit call of a tiny model takes ~300 ns, and it
// allocated and freed four blocks, each under the lock (~20 ns a lock and unlock on this VM).
// The cache is plain data, so Arrays freed during static destruction, after the thread's
// destructors ran, still find it (closed then: they go to the pool).
constexpr size_t kCachedBlockBytes = size_t{64} << 10;
constexpr size_t kCacheSlots = 16;  // at most 1 MB per thread
struct ThreadCache {
  std::array<void*, kCacheSlots> blocks;  // whole blocks, each with its header
  size_t count;
  bool closed;
};
constinit thread_local ThreadCache cache{};

size_t size_of_block(void* block) { return *static_cast<size_t*>(block); }

void free_cached(ThreadCache& c) {
  for (size_t i = 0; i < c.count; ++i) std::free(c.blocks[i]);
  c.count = 0;
}

// Empties the thread's cache when the thread ends; Arrays freed later skip it.
struct CacheCloser {
  ~CacheCloser() {
    free_cached(cache);
    cache.closed = true;
  }
};

void* take_cached(size_t bytes) {
  ThreadCache& c = cache;
  for (size_t i = 0; i < c.count; ++i) {
    if (size_of_block(c.blocks[i]) != bytes) continue;
    void* block = c.blocks[i];
    c.blocks[i] = c.blocks[--c.count];
    return block;
  }
  return nullptr;
}

bool keep_cached(void* block, size_t bytes) {
  ThreadCache& c = cache;
  if (!kPooling || bytes > kCachedBlockBytes || c.closed || c.count == kCacheSlots) return false;
  if (c.count == 0) {
    thread_local CacheCloser closer;  // constructed once per thread, on its first cached block
    (void)closer;
  }
  c.blocks[c.count++] = block;
  return true;
}

}  // namespace

void* allocate(size_t bytes) {
  // Room for the rounding, the header and a huge page: beyond that the sums below would wrap.
  if (bytes > SIZE_MAX / 2) return nullptr;
  bytes = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  if (bytes <= kCachedBlockBytes)
    if (void* block = take_cached(bytes)) return static_cast<char*>(block) + kHeader;
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
  // Large blocks (datasets, weights, a step's buffers) go on transparent huge pages: one page
  // fault per 2 MB instead of 512, and fewer TLB misses in the loops that stream through them.
  // They are populated at once, since every byte of a block is written: one system call instead
  // of a fault per page. Measured on this VM, writing 64 MB of fresh memory took 290-360 ms page
  // by page, 100 ms populated, and 4-120 ms populated on huge pages.
  const bool huge = bytes >= kHugeBlock;
  const size_t total = huge ? (bytes + kHeader + kHugePage - 1) / kHugePage * kHugePage : bytes + kHeader;
  void* block = std::aligned_alloc(huge ? kHugePage : kAlignment, total);
  if (!block) return nullptr;
  if (huge) {  // advice only: without THP, or before Linux 5.14, pages come one fault at a time
    madvise(block, total, MADV_HUGEPAGE);
    madvise(block, total, MADV_POPULATE_WRITE);
  }
  *static_cast<size_t*>(block) = bytes;
  return static_cast<char*>(block) + kHeader;
}

void release(void* payload) {
  if (!payload) return;
  void* block = static_cast<char*>(payload) - kHeader;
  size_t bytes = size_of_block(block);
  if (keep_cached(block, bytes)) return;
  Pool& p = pool();
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    if (kPooling && p.pooled + bytes <= kPoolBytes) {
      p.free_blocks[bytes].push_back(block);
      p.pooled += bytes;
      return;
    }
  }
  std::free(block);
}

void release_pooled() {
  free_cached(cache);  // the calling thread's; other threads' caches hold at most 1 MB each
  std::unordered_map<size_t, std::vector<void*>> blocks;
  {
    Pool& p = pool();
    std::lock_guard<std::mutex> lock(p.mutex);
    blocks.swap(p.free_blocks);
    p.pooled = 0;
  }
  for (auto& [bytes, list] : blocks)
    for (void* block : list) std::free(block);
  // Freed blocks below glibc's mmap threshold (which rises as large blocks are freed) stay in its
  // heap, their pages still mapped: without the trim they would be warm.
  malloc_trim(0);
}

size_t pooled_bytes() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  return p.pooled;
}

}  // namespace zephyr::buffer_pool
