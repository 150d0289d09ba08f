// `zephyr plot metrics.jsonl -o curve.svg`: the loss and test-metric curves of a `zephyr train
// --log` file as one self-contained SVG (no scripts, fonts or images from elsewhere).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace zephyr::cli {

/// The SVG of a metrics log's lines: the loss of each step line (and each epoch's mean) over the
/// step count above, the epoch lines' test accuracy (or test MSE) below. Throws Error when the
/// lines hold no loss to draw.
std::string plot_svg(const std::vector<nlohmann::json>& lines, const std::string& title);

/// Reads `log`, writes its plot to `output` atomically.
void plot(const std::string& log, const std::string& output);

}  // namespace zephyr::cli
