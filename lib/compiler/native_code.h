// Object code for one kernel, and what it depends on besides the kernel (native_code.cpp). Plain
// C++: the schedule and the compile cache use it without MLIR.
#pragma once

#include <string>

#include "zephyr/compiler.h"

namespace zephyr::compiler {

/// An object file for the host CPU defining `void <kernel.name>(inputs..., outputs...)` and
/// `void <kernel.name>_packed(void** pointers)`, which calls it with pointers[0..n). `options`
/// must have its thread count decided (not 0).
std::string kernel_object(const Function& kernel, const Options& options);

/// Everything besides the kernel that its object code depends on: LLVM's version, the target
/// triple, CPU and features, and the optimization level. Part of every compile-cache key.
std::string target_description();

}  // namespace zephyr::compiler
