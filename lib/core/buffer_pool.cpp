#include "buffer_pool.h"

#include <malloc.h>
#include <sys/mman.h>

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

}  // namespace

void* allocate(size_t bytes) {
  // Room for the rounding, the header and a huge page: beyond that the sums below would wrap.
  if (bytes > SIZE_MAX / 2) return nullptr;
  bytes = (bytes + kAlignment - 1) / kAlignment * kAlignment;
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
  size_t bytes = *static_cast<size_t*>(block);
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
