// FNV-1a, 64 bits: a stable, seedless hash of bytes, for names and fingerprints that must be the
// same in every process and on every run (kernel symbols, replicas' parameters).
#pragma once

#include <cstddef>
#include <cstdint>

namespace zephyr {

inline constexpr uint64_t kFnv1aBasis = 1469598103934665603ull;

/// Continues `h` over `n` bytes; start from kFnv1aBasis.
inline uint64_t fnv1a(const void* bytes, size_t n, uint64_t h = kFnv1aBasis) {
  const auto* p = static_cast<const unsigned char*>(bytes);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

}  // namespace zephyr
