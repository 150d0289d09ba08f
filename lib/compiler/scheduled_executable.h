// The JIT as a schedule of kernels (scheduled_executable.cpp).
#pragma once

#include <memory>

#include "zephyr/compiler.h"

namespace zephyr::compiler {

/// `function` partitioned into kernels (partition.h), each distinct one compiled once (or taken
/// from the compile cache), linked, and run as a flat list of kernel calls. `options` must have
/// its thread count decided.
std::shared_ptr<Executable> compile_scheduled(const Function& function, const Options& options);

}  // namespace zephyr::compiler
