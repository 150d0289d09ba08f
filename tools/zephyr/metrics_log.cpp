#include "metrics_log.h"

#include <fmt/format.h>

#include <fstream>
#include <zephyr/error.h>
#include <zephyr/io/atomic_file.h>

namespace zephyr::cli {

std::vector<nlohmann::json> read_metrics_log(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(fmt::format("cannot read the metrics log {}", path));
  std::vector<nlohmann::json> lines;
  std::string text;
  for (int number = 1; std::getline(in, text); ++number) {
    if (text.empty()) continue;
    nlohmann::json line = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (line.is_discarded() || !line.is_object())
      throw Error(fmt::format("{}:{}: not a JSON object: {}", path, number, text.substr(0, 80)));
    lines.push_back(std::move(line));
  }
  return lines;
}

MetricsLog::MetricsLog(std::string path, int kept_epochs) : path_(std::move(path)) {
  if (path_.empty() || kept_epochs == 0) return;
  if (!std::ifstream(path_)) return;  // resumed, but the earlier run kept no log
  for (const nlohmann::json& line : read_metrics_log(path_))
    if (line.value("epoch", 0) <= kept_epochs) lines_.push_back(line.dump());
}

void MetricsLog::write(nlohmann::json line) {
  if (path_.empty()) return;
  lines_.push_back(line.dump());
  std::string text;
  for (const std::string& l : lines_) text += l + "\n";
  io::write_file_atomically(path_, text);
}

}  // namespace zephyr::cli
