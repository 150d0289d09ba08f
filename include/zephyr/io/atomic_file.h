// Files that are either completely written or not changed at all.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace zephyr::io {

/// Writes `path` through a temporary `<path>.tmp.<pid>` in the same directory. commit() flushes
/// it to disk and renames it over `path`; destroyed uncommitted, it is removed and `path` is as it
/// was. Temporaries left by processes that died mid-write are removed when the next one opens.
/// Errors throw zephyr::Error naming the path and the reason.
class AtomicFile {
 public:
  /// Removes stale temporaries of `path`, then creates this process's one.
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  /// Appends `bytes` bytes from `data`.
  void write(const void* data, size_t bytes);
  /// Appends `text`.
  void write(std::string_view text) { write(text.data(), text.size()); }
  /// Makes the file durable and visible under its name.
  void commit();

  /// The path written (not the temporary's).
  const std::string& path() const { return path_; }

 private:
  std::string path_, temporary_;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
};

/// `text` as the whole content of `path`, atomically.
void write_file_atomically(const std::string& path, std::string_view text);

/// Removes `<path>.tmp.<pid>` files whose process no longer runs (left by a kill mid-save).
void remove_stale_temporaries(const std::string& path);

}  // namespace zephyr::io
