#include "graphviz.h"

#include <fmt/core.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <zephyr/error.h>

namespace zephyr::cli {

std::string render_svg(const std::string& dot) {
  // The graph goes through a file, not a pipe both ways: dot reads all of it before it writes.
  char path[] = "/tmp/zephyr-graph-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) throw Error("[ir --format svg] cannot create a temporary file in /tmp");
  bool written = write(fd, dot.data(), dot.size()) == static_cast<ssize_t>(dot.size());
  close(fd);
  struct Remove {
    const char* path;
    ~Remove() { unlink(path); }
  } remove{path};
  if (!written) throw Error(fmt::format("[ir --format svg] cannot write the graph to {}", path));

  FILE* pipe = popen(fmt::format("dot -Tsvg '{}' 2>&1", path).c_str(), "r");
  if (!pipe) throw Error("[ir --format svg] cannot start Graphviz's dot");
  std::string out;
  char buffer[1 << 16];
  for (size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
  int status = pclose(pipe);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
    throw Error("[ir --format svg] Graphviz's dot is not installed: apt-get install graphviz (or use --format dot)");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw Error(fmt::format("[ir --format svg] dot failed: {}", out.substr(0, 2000)));
  return out;
}

}  // namespace zephyr::cli
