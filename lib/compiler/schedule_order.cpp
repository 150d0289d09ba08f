// The order of a schedule's calls, for memory: see order_for_memory in partition.h.
#include <cstdint>
#include <vector>

#include "partition.h"

namespace zephyr::compiler {

void order_for_memory(Schedule& s) {
  const size_t values = s.values.size(), calls = s.calls.size();
  std::vector<bool> kept(values, false);  // results: written in place and never freed
  for (size_t v : s.results) kept[v] = true;
  auto bytes = [&](size_t v) { return static_cast<size_t>(numel(s.values[v].shape)) * itemsize(s.values[v].dtype); };

  // Per call, its inputs without repeats; per value, the calls that read it and how many have not run.
  std::vector<std::vector<size_t>> reads(calls);
  std::vector<std::vector<size_t>> readers(values);
  std::vector<int> reads_left(values, 0);
  for (size_t c = 0; c < calls; ++c)
    for (size_t in : s.calls[c].inputs) {
      if (!readers[in].empty() && readers[in].back() == c) continue;
      reads[c].push_back(in);
      readers[in].push_back(c);
      ++reads_left[in];
    }

  std::vector<bool> ready(values, false), done(calls, false);
  for (size_t a = 0; a < s.arguments; ++a) ready[a] = true;
  auto runnable = [&](size_t c) {
    for (size_t in : reads[c])
      if (!ready[in]) return false;
    return true;
  };
  // Running `c` now takes no more arena bytes than it gives back: its outputs are results, or no
  // larger than the inputs it is the last to read.
  auto frees_enough = [&](size_t c) {
    size_t freed = 0, taken = 0;
    for (size_t in : reads[c])
      if (in >= s.arguments && !kept[in] && reads_left[in] == 1) freed += bytes(in);
    for (size_t out : s.calls[c].outputs)
      if (!kept[out]) taken += bytes(out);
    return taken <= freed;
  };

  std::vector<KernelCall> order;
  order.reserve(calls);
  std::vector<size_t> pending;
  for (size_t first = 0; first < calls; ++first) {
    if (done[first]) continue;
    pending.push_back(first);
    while (!pending.empty()) {
      const size_t c = pending.back();
      pending.pop_back();
      if (done[c]) continue;
      done[c] = true;
      order.push_back(s.calls[c]);
      for (size_t out : s.calls[c].outputs) ready[out] = true;
      for (size_t in : reads[c]) --reads_left[in];
      // What may run early now: readers of the new value, and readers of the values this call
      // read (one of them may now be the last to read one).
      auto consider = [&](size_t v) {
        for (size_t d : readers[v])
          if (!done[d] && runnable(d) && frees_enough(d)) pending.push_back(d);
      };
      for (size_t out : s.calls[c].outputs) consider(out);
      for (size_t in : reads[c]) consider(in);
    }
  }
  s.calls = std::move(order);
}

}  // namespace zephyr::compiler
