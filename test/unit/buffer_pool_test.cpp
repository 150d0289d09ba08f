// The allocator behind Arrays and compiled code's buffers (lib/core/buffer_pool.h): freed blocks
// are kept and reused by size, and release_pooled_memory() gives them all back.
#include <doctest/doctest.h>
#include <zephyr/zephyr.h>

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
