#include "zephyr/io/atomic_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>

#include "zephyr/error.h"

namespace zephyr::io {
namespace {

std::string os_error() { return std::strerror(errno); }

[[noreturn]] void fail(const std::string& path, const std::string& reason) {
  throw Error(fmt::format("cannot write '{}': {}", path, reason));
}

// Makes a completed rename survive a crash; without it the directory entry may be lost.
void sync_directory(const std::string& path) {
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;  // best effort: the file itself is already complete and durable
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  remove_stale_temporaries(path_);
  temporary_ = path_ + ".tmp." + std::to_string(::getpid());
  file_ = std::fopen(temporary_.c_str(), "wb");
  if (!file_) fail(path_, fmt::format("cannot create {}: {}", temporary_, os_error()));
}

AtomicFile::~AtomicFile() {
  if (file_) std::fclose(file_);
  if (!committed_) std::remove(temporary_.c_str());
}

void AtomicFile::write(const void* data, size_t bytes) {
  if (committed_ || !file_) fail(path_, "internal error: write after commit");
  if (bytes > 0 && std::fwrite(data, 1, bytes, file_) != bytes)
    fail(path_, fmt::format("cannot write {}: {}", temporary_, os_error()));
}

void AtomicFile::commit() {
  if (committed_ || !file_) fail(path_, "internal error: committed twice");
  if (std::fflush(file_) != 0 || ::fsync(fileno(file_)) != 0)
    fail(path_, fmt::format("cannot flush {}: {}", temporary_, os_error()));
  std::FILE* closing = file_;
  file_ = nullptr;
  if (std::fclose(closing) != 0) fail(path_, fmt::format("cannot close {}: {}", temporary_, os_error()));
  if (std::rename(temporary_.c_str(), path_.c_str()) != 0)
    fail(path_, fmt::format("cannot rename {} over it: {}", temporary_, os_error()));
  committed_ = true;
  sync_directory(path_);
}

void write_file_atomically(const std::string& path, std::string_view text) {
  AtomicFile file(path);
  file.write(text);
  file.commit();
}

void remove_stale_temporaries(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  const std::string prefix = target.filename().string() + ".tmp.";
  std::error_code error;
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    const char* digits = name.data() + prefix.size();
    const char* last = name.data() + name.size();
    pid_t pid = 0;
    auto [end_of_number, parse_error] = std::from_chars(digits, last, pid);
    if (parse_error != std::errc() || end_of_number != last || pid <= 0) continue;
    // Signal 0 checks that the process exists; ESRCH means it is gone, so its write never finished.
    if (::kill(pid, 0) != 0 && errno == ESRCH) {
      std::error_code ignored;
      fs::remove(it->path(), ignored);
    }
  }
}

}  // namespace zephyr::io
