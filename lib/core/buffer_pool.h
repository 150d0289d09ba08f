// The allocator behind Array storage and the intermediate buffers of JIT-compiled code (which
// calls malloc/free; native_code.cpp binds those names to these functions).
#pragma once

#include <cstddef>

namespace zephyr::buffer_pool {

/// Like malloc, but 64-byte aligned, and reusing a block of the same size freed earlier. Large
/// blocks from glibc are fresh mmaps whose pages fault in (and get zeroed) on every use: in a
/// training step, whose outputs and intermediates have the same sizes every call, that cost
/// more than the arithmetic. Freed blocks are kept up to a total of kPoolBytes; blocks of up to
/// 64 KB first go to a lock-free cache of the freeing thread (16 blocks at most).
void* allocate(size_t bytes);
void release(void* block);
/// Frees every pooled block and the calling thread's cache, and trims glibc's heap, so that the
/// next allocations fault fresh pages in as a new process's would (zephyr::release_pooled_memory).
void release_pooled();
/// Bytes held in freed blocks, ready for reuse (not counting the threads' small-block caches).
size_t pooled_bytes();

constexpr size_t kPoolBytes = size_t{2} << 30;
constexpr size_t kAlignment = 64;

}  // namespace zephyr::buffer_pool
