// Run-time checks: conditions on values that only exist when compiled code runs (label ranges,
// token ids). Compiled code cannot throw, so a check becomes an extra result that jit inspects
// after the call, throwing Error(message) when it failed.
#pragma once

#include <string>
#include <vector>

#include "zephyr/tensor.h"

namespace zephyr {

/// Requires `ok` (bool, any shape) to be true everywhere. Under jit, a failure throws
/// Error("<message> (<n> of <size> elements)") after the call. Outside jit (trace, IR dumps,
/// ahead-of-time code) it has no effect.
void runtime_check(const Tensor& ok, const std::string& message);

namespace detail {

struct RuntimeCheck {
  Tensor failures;  // i32 scalar: how many elements of `ok` are false
  int64_t size;     // how many were checked; -1 where no one knows (a while_loop's steps)
  std::string message;
  bool at_least = false;  // `failures` is 0 or 1, carried out of a region whose dtype holds no counts
};

/// Collects the checks made while a jit call traces its function (a thread-local stack).
class CheckScope {
 public:
  CheckScope();
  ~CheckScope();
  CheckScope(const CheckScope&) = delete;
  CheckScope& operator=(const CheckScope&) = delete;
  std::vector<RuntimeCheck>& checks() { return checks_; }

 private:
  std::vector<RuntimeCheck> checks_;
  CheckScope* outer_;
};

/// Adds `check` to the innermost CheckScope, if any (a transform re-recording the checks it
/// collected around the function it transforms).
void record_check(RuntimeCheck check);

}  // namespace detail
}  // namespace zephyr
