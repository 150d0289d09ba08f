// Internal to lib/io and lib/data: opening files that are read whole. A FIFO, a device or a
// directory given as a data file would block or never end, so only regular files are opened.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

namespace zephyr::io {

/// A read-only descriptor of the regular file `path` and its size, or -1 with `error` set. Opened
/// non-blocking (a FIFO does not wait for a writer), checked, then switched back to blocking.
inline int open_regular_file(const std::string& path, uint64_t& size, std::string& error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    error = std::string("cannot open: ") + std::strerror(errno);
    return -1;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    error = S_ISDIR(st.st_mode) ? "a directory, not a file" : "not a regular file (a FIFO, socket or device?)";
    ::close(fd);
    return -1;
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  size = static_cast<uint64_t>(st.st_size);
  return fd;
}

}  // namespace zephyr::io
