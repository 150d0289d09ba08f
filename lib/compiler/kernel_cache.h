// Compiled kernels (object code) kept across processes, in $ZEPHYR_CACHE_DIR, by default
// ${XDG_CACHE_HOME:-$HOME/.cache}/zephyr; ZEPHYR_CACHE=0 turns it off.
//
// An entry is one file, named by the SHA-256 of its key, holding the whole key, the object and a
// SHA-256 over both. A reader loads it only if all three check out: a truncated, bit-flipped or
// foreign entry (another key, another zephyr or LLVM, another CPU) is a miss and gets rewritten.
// Writes go to a temporary file renamed into place, so readers and concurrent writers never see
// half an entry.
#pragma once

#include <optional>
#include <string>

namespace zephyr::compiler::kernel_cache {

/// The cache directory, or "" when the cache is off; read from the environment at each call.
std::string directory();

/// The key's object code, if a valid entry holds it.
std::optional<std::string> load(const std::string& key);

/// Stores `object` under `key`; a cache that cannot be written is skipped (compiling still works).
void store(const std::string& key, const std::string& object);

/// The file an entry for `key` lives in (for tests that damage entries).
std::string entry_path(const std::string& key);

}  // namespace zephyr::compiler::kernel_cache
