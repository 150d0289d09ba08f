#include "buffer_plan.h"

#include <algorithm>

namespace zephyr::compiler {

BufferPlan plan_buffers(const Schedule& s) {
  const size_t n = s.values.size();
  BufferPlan plan;
  plan.bytes.resize(n);
  for (size_t v = 0; v < n; ++v)
    plan.bytes[v] = static_cast<size_t>(numel(s.values[v].shape)) * itemsize(s.values[v].dtype);
  plan.direct_result.assign(n, -1);
  for (size_t r = 0; r < s.results.size(); ++r) {
    size_t v = s.results[r];
    if (v >= s.arguments && plan.direct_result[v] < 0) plan.direct_result[v] = static_cast<int>(r);
  }
  plan.copied.resize(s.results.size());
  std::vector<bool> copied_value(n, false);
  for (size_t r = 0; r < s.results.size(); ++r) {
    plan.copied[r] = plan.direct_result[s.results[r]] != static_cast<int>(r);
    if (plan.copied[r]) copied_value[s.results[r]] = true;
  }
  std::vector<long> last_use(n, -1);
  for (size_t c = 0; c < s.calls.size(); ++c)
    for (size_t in : s.calls[c].inputs) last_use[in] = static_cast<long>(c);
  plan.release_after.assign(s.calls.size(), {});
  for (size_t c = 0; c < s.calls.size(); ++c) {
    size_t v = s.calls[c].output;
    if (plan.direct_result[v] >= 0) continue;  // the caller's memory
    if (copied_value[v]) plan.release_at_end.push_back(v);
    else plan.release_after[std::max(last_use[v], static_cast<long>(c))].push_back(v);  // unread: freed at once
  }
  return plan;
}

}  // namespace zephyr::compiler
