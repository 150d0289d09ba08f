// The allocator JIT-compiled code uses for its intermediate buffers (the compiled code calls
// malloc/free; native_code.cpp binds those names to these functions).
#pragma once

#include <cstddef>

namespace zephyr::jit_runtime {

/// Like malloc, but reuses a block of the same size freed earlier. Large blocks from glibc are
/// fresh mmaps whose pages fault in (and get zeroed) on every call: in a training step that
/// cost more than the arithmetic. Freed blocks are kept up to a total of kPoolBytes.
void* buffer_alloc(size_t bytes);
void buffer_free(void* block);

constexpr size_t kPoolBytes = size_t{2} << 30;

}  // namespace zephyr::jit_runtime
