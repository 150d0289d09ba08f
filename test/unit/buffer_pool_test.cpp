// The allocator behind Arrays and compiled code's buffers (lib/core/buffer_pool.h): freed blocks
// are kept and reused by size, and release_pooled_memory() gives them all back.
#include <doctest/doctest.h>
#include <zephyr/zephyr.h>

#include <thread>
#include <vector>

#include "../../lib/core/buffer_pool.h"

namespace z = zephyr;
namespace pool = zephyr::buffer_pool;

TEST_CASE("buffer pool: a freed Array's block is reused, and release_pooled_memory gives it back") {
  constexpr size_t kBytes = 1000 * 1000 * 4;
  const size_t before = pool::pooled_bytes();
  { z::Array a({1000, 1000}, z::DType::f32); }
  if (pool::pooled_bytes() == before) {
    MESSAGE("pooling is off (AddressSanitizer): nothing to check");
    return;
  }
  CHECK(pool::pooled_bytes() == before + kBytes);
  {
    z::Array b({1000, 1000}, z::DType::f32);  // the same size: the pooled block, not a new one
    CHECK(pool::pooled_bytes() == before);
  }
  CHECK(pool::pooled_bytes() == before + kBytes);
  z::release_pooled_memory();
  CHECK(pool::pooled_bytes() == 0);
  z::Array c({1000, 1000}, z::DType::f32);  // still allocates after the release
  CHECK(c.size() == 1000 * 1000);
}

TEST_CASE("buffer pool: small blocks are reused by the thread that freed them, up to 16, and larger ones go to the pool") {
  const size_t before = pool::pooled_bytes();
  { z::Array probe({1000, 1000}, z::DType::f32); }
  if (pool::pooled_bytes() == before) {
    MESSAGE("pooling is off (AddressSanitizer): nothing to check");
    return;
  }
  z::release_pooled_memory();
  constexpr size_t kSmall = 256;
  void* first = pool::allocate(kSmall);
  pool::release(first);
  void* again = pool::allocate(kSmall);
  CHECK(again == first);  // from the thread's cache
  pool::release(again);
  // Seventeen small blocks freed: sixteen stay in the thread's cache, the last goes to the pool.
  std::vector<void*> blocks;
  for (int i = 0; i < 17; ++i) blocks.push_back(pool::allocate(kSmall));
  const size_t pooled = pool::pooled_bytes();
  for (void* b : blocks) pool::release(b);
  CHECK(pool::pooled_bytes() == pooled + kSmall);
  // Above 64 KB a block skips the cache.
  void* large = pool::allocate(size_t{128} << 10);
  pool::release(large);
  CHECK(pool::pooled_bytes() == pooled + kSmall + (size_t{128} << 10));
  z::release_pooled_memory();
  CHECK(pool::pooled_bytes() == 0);
  // A block freed by another thread is that thread's to reuse; it is freed when the thread ends.
  void* elsewhere = pool::allocate(kSmall);
  std::thread([elsewhere] { pool::release(elsewhere); }).join();
  CHECK(pool::pooled_bytes() == 0);
}
