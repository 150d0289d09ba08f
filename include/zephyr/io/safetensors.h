// Safetensors checkpoints (https://github.com/huggingface/safetensors): the file format that
// PyTorch, JAX and Hugging Face tools read, so zephyr weights can leave and enter C++.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "zephyr/array.h"
#include "zephyr/param_tree.h"

namespace zephyr::io {

using NamedArrays = std::vector<std::pair<std::string, Array>>;

/// Writes `tensors` (contiguous, in the given order) and `metadata` as a safetensors file.
/// The write is atomic: a temporary file next to `path` is fsync'ed and renamed over it, so
/// `path` holds either the old file or the complete new one. Names must be non-empty,
/// unique and not "__metadata__"; they are checked before anything is written.
void save_safetensors(const std::string& path, const NamedArrays& tensors,
                      const std::map<std::string, std::string>& metadata = {});

/// Reads every tensor, in data-offset order, after validating the whole header against the
/// file size. Throws Error naming the file, tensor and byte offset of the first problem.
NamedArrays load_safetensors(const std::string& path);
/// The "__metadata__" map (empty when absent); reads and validates only the header.
std::map<std::string, std::string> load_safetensors_metadata(const std::string& path);

/// Saves the leaves of `tree` under their '/'-joined paths.
void save(const std::string& path, const ParamTree& tree, const std::map<std::string, std::string>& metadata = {});
/// Which part of a file load() reads, and how closely it must match.
struct LoadOptions {
  /// The file's names under this prefix are the tree's ("encoder/": the file's
  /// "encoder/0/weights" is the tree's "0/weights"); the file's other names are not read.
  std::string prefix;
  /// true: the names must match exactly. false (as PyTorch's strict=False): a leaf the file does
  /// not have keeps `like`'s value, and names the tree does not have are ignored; but a dtype or
  /// shape that differs is still an error, and so is a file that has none of the tree's names.
  bool strict = true;
};

/// Loads a checkpoint that must match `like` (names, dtypes, shapes); returns the leaves in
/// `like`'s order. One Error lists every missing, unexpected or mismatching path, and what the
/// file holds when none of the names match.
ParamTree load(const std::string& path, const ParamTree& like, const LoadOptions& options = {});

/// A training checkpoint: params under "params/", optimizer state under "opt/", one file.
struct Checkpoint {
  ParamTree params;                             ///< stored under "params/"
  ParamTree state;                              ///< the optimizer state, stored under "opt/"
  std::map<std::string, std::string> metadata;  ///< the file's "__metadata__" strings
};
/// Saves params and optimizer state together, atomically.
void save_checkpoint(const std::string& path, const Checkpoint& checkpoint);
/// Loads a checkpoint whose params and state match the templates exactly (see load()).
Checkpoint load_checkpoint(const std::string& path, const ParamTree& params_like, const ParamTree& state_like);

}  // namespace zephyr::io
