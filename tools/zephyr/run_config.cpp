#include "run_config.h"

#include <fmt/format.h>

#include <charconv>

#include "zephyr/error.h"

namespace zephyr::cli {

RunConfig run_config(const TrainOptions& o, int64_t examples) {
  return {{"model", o.model},
          {"seed", std::to_string(o.seed)},
          {"batch_size", std::to_string(o.batch_size)},
          {"learning_rate", fmt::format("{}", o.learning_rate)},
          {"optimizer", o.optimizer},
          {"schedule", o.schedule},
          {"epochs", std::to_string(o.epochs)},
          {"examples", std::to_string(examples)},
          {"data", o.data_dir}};
}

int resumed_epoch(const std::string& checkpoint, const RunConfig& metadata, const RunConfig& config, bool force) {
  auto it = metadata.find("epoch");
  if (it == metadata.end())
    throw Error(fmt::format("[train] {}: not a zephyr train checkpoint (no 'epoch' in its metadata)", checkpoint));
  int epoch = -1;
  auto [end, error] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), epoch);
  if (error != std::errc() || end != it->second.data() + it->second.size() || epoch < 1 || epoch > 100000)
    throw Error(fmt::format("[train] {}: its 'epoch' metadata '{}' is not an epoch count", checkpoint, it->second));
  for (const auto& [field, value] : config) {
    auto recorded = metadata.find(field);
    if (recorded == metadata.end() || recorded->second == value) continue;  // older checkpoints lack some fields
    if (force) {
      fmt::print("warning: resuming with {} {} where the checkpoint's run had {} (--force)\n", field, value,
                 recorded->second);
      continue;
    }
    throw Error(fmt::format("[train] {} was written by a run with {} {}; this run has {} {}. Resuming would train "
                            "something else: give the same flags, or --force",
                            checkpoint, field, recorded->second, field, value));
  }
  return epoch;
}

}  // namespace zephyr::cli
