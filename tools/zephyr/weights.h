// Trained weights for the tool's commands: a params file, or a `zephyr train` checkpoint.
#pragma once

#include <string>

#include <zephyr/param_tree.h>

namespace zephyr::cli {

/// The leaves of `like` read from `path`: a file of params by path, or a checkpoint with them
/// under "params/". One error lists every missing or mismatching leaf.
ParamTree load_weights(const std::string& path, const ParamTree& like);

}  // namespace zephyr::cli
