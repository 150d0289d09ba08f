// What a `zephyr train` checkpoint records of the run that wrote it, and the check that a resumed
// run is that run. Plain C++, so the fuzz target test/fuzz/checkpoint_metadata.cpp runs it alone.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "train.h"

namespace zephyr::cli {

using RunConfig = std::map<std::string, std::string>;

/// The fields a resume must match: model, seed, batch size, learning rate, optimizer, schedule,
/// total epochs (the schedule depends on them), example count and data directory. Not the
/// thread count: every thread count gives the same bits, so a run may resume on another machine.
RunConfig run_config(const TrainOptions& options, int64_t examples);

/// The epoch `checkpoint` was written after, from its metadata, once every field of `config` it
/// records matches (or `force`: then a differing field is a warning). Throws Error naming the
/// checkpoint and the field otherwise, or when 'epoch' is missing or not a count in 1..100000.
int resumed_epoch(const std::string& checkpoint, const RunConfig& metadata, const RunConfig& config, bool force);

}  // namespace zephyr::cli
