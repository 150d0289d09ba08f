// `zephyr train --log metrics.jsonl`: one JSON object per line, per logging step and per epoch.
// The file is rewritten atomically at each line, so a reader (`zephyr plot`, a tail) never
// sees half a line and a killed run leaves every line it wrote.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace zephyr::cli {

class MetricsLog {
 public:
  /// No file when `path` is empty. A resumed run keeps the lines of its first `kept_epochs`
  /// epochs from the file (a fresh run, 0, starts it anew); lines of later epochs, which the
  /// resumed run writes again, are dropped.
  MetricsLog(std::string path, int kept_epochs);

  /// Appends `line` (an object with at least "kind" and "epoch") and rewrites the file.
  void write(nlohmann::json line);

 private:
  std::string path_;
  std::vector<std::string> lines_;
};

/// The lines of a metrics log, parsed; throws Error naming the file and line that is not JSON.
std::vector<nlohmann::json> read_metrics_log(const std::string& path);

}  // namespace zephyr::cli
