#include "zephyr/checks.h"

#include "zephyr/ops.h"

namespace zephyr {
namespace detail {
namespace {
thread_local CheckScope* current = nullptr;
}

CheckScope::CheckScope() : outer_(current) { current = this; }
CheckScope::~CheckScope() { current = outer_; }

void record_check(RuntimeCheck check) {
  if (current != nullptr) current->checks().push_back(std::move(check));
}

}  // namespace detail

void runtime_check(const Tensor& ok, const std::string& message) {
  if (detail::current == nullptr) return;
  if (ok.dtype() != DType::bool_) throw Error("[runtime_check] the condition must be bool, got " + describe(ok.dtype(), ok.shape()));
  Tensor failed = cast(equal(ok, full({}, 0.0, DType::bool_)), DType::i32);
  detail::record_check({sum(failed), numel(ok.shape()), message});
}

}  // namespace zephyr
