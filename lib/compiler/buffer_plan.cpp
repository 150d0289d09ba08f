#include "buffer_plan.h"

#include <algorithm>

namespace zephyr::compiler {
namespace {

struct Lifetime {
  size_t first, last;  // calls, inclusive: computed by `first`, last read by `last`
};

bool overlap(const Lifetime& a, const Lifetime& b) { return a.first <= b.last && b.first <= a.last; }

}  // namespace

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

  std::vector<Lifetime> life(n, {0, 0});
  std::vector<size_t> placed_first;  // the arena's values, in the order they are placed
  for (size_t c = 0; c < s.calls.size(); ++c)
    for (size_t v : s.calls[c].outputs) {
      life[v] = {c, c};  // an output nobody reads still needs its bytes during its own call
      if (plan.direct_result[v] < 0) placed_first.push_back(v);
    }
  for (size_t c = 0; c < s.calls.size(); ++c)
    for (size_t in : s.calls[c].inputs) life[in].last = std::max(life[in].last, c);
  for (size_t v : placed_first)
    if (copied_value[v]) life[v].last = s.calls.size();  // read by the copy-out after the calls

  // Largest first (ties in schedule order, so the plan is deterministic): big buffers get the low
  // offsets, and small ones fill the gaps between them.
  std::sort(placed_first.begin(), placed_first.end(), [&](size_t a, size_t b) {
    return plan.bytes[a] != plan.bytes[b] ? plan.bytes[a] > plan.bytes[b] : a < b;
  });
  plan.offset.assign(n, -1);
  auto rounded = [](size_t bytes) {
    return std::max(BufferPlan::kAlignment, (bytes + BufferPlan::kAlignment - 1) / BufferPlan::kAlignment * BufferPlan::kAlignment);
  };
  std::vector<size_t> placed;
  for (size_t v : placed_first) {
    // The places taken while `v` lives, by offset; `v` goes into the first gap that fits.
    std::vector<std::pair<size_t, size_t>> taken;  // [begin, end)
    for (size_t u : placed)
      if (overlap(life[u], life[v]))
        taken.emplace_back(static_cast<size_t>(plan.offset[u]), static_cast<size_t>(plan.offset[u]) + rounded(plan.bytes[u]));
    std::sort(taken.begin(), taken.end());
    size_t at = 0;
    for (const auto& [begin, end] : taken) {
      if (begin >= at + rounded(plan.bytes[v])) break;
      at = std::max(at, end);
    }
    plan.offset[v] = static_cast<long>(at);
    plan.arena_bytes = std::max(plan.arena_bytes, at + rounded(plan.bytes[v]));
    placed.push_back(v);
  }
  return plan;
}

}  // namespace zephyr::compiler
