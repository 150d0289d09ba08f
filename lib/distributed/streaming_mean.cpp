// distributed::StreamingMean: a jit call's results averaged over the ranks in buckets, each
// bucket's MPI_Iallreduce started as soon as the call's kernels have computed it.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <cstring>

#include "zephyr/distributed.h"
#include "zephyr/error.h"
#include "../core/fnv1a.h"
#include "mpi_internal.h"

namespace zephyr::distributed {
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// One MPI_Iallreduce: results of one dtype, copied end to end into `sums`, which the bucket keeps
// from call to call. (Reducing a large result in its own buffer instead, without the copies,
// measured slower: 3.3-3.8 against 3.2-3.5 ms for the two-rank MLP step, the last bucket's wait
// 1.1-1.3 against 0.6-0.85 ms.)
struct Bucket {
  DType dtype = DType::f32;
  std::vector<size_t> members;  // result indices
  int64_t elements = 0;
  Array sums;
  size_t pending = 0;           // members not yet computed, this call
  bool started = false, done = false;
  MPI_Request request = MPI_REQUEST_NULL;
  uint64_t number = 0;          // the watchdog's number of the collective
};

uint64_t structure_of(std::span<const Array> results, std::span<const std::string> paths) {
  uint64_t h = kFnv1aBasis;
  for (size_t i = 0; i < results.size(); ++i) h = detail::hash_leaf(h, paths[i], results[i]);
  return h;
}

template <class T>
void divide_into(const T* sums, T* out, int64_t n, T ranks) {
  for (int64_t i = 0; i < n; ++i) out[i] = sums[i] / ranks;
}

}  // namespace

struct StreamingMean::State {
  size_t bucket_bytes;
  uint64_t structure = 0;
  bool planned = false;
  std::vector<Bucket> buckets;
  std::vector<size_t> bucket_of;  // per result
  std::vector<Array> results;     // the current call's, written by finish()
  size_t next = 0;                // the next bucket to start
  bool open = false;              // a call started and not finished
  Stats stats;

  // Buckets from the last result to the first: a new bucket when the dtype changes or the
  // current one has reached bucket_bytes.
  void plan(std::span<const Array> rs, std::span<const std::string> paths) {
    buckets.clear();
    bucket_of.assign(rs.size(), 0);
    size_t bytes = 0;
    stats.bytes = 0;
    for (size_t i = rs.size(); i-- > 0;) {
      const Array& r = rs[i];
      if (r.dtype() != DType::f32 && r.dtype() != DType::f64)
        throw Error(fmt::format("[distributed] StreamingMean: result '{}' is {}; only f32 and f64 results are averaged",
                                paths[i].empty() ? fmt::format("#{}", i) : paths[i], describe(r.dtype(), r.shape())));
      if (r.size() > INT32_MAX)
        throw Error(fmt::format("[distributed] StreamingMean: result '{}' has {} elements, more than one MPI call "
                                "takes (2^31 - 1)",
                                paths[i], r.size()));
      if (buckets.empty() || buckets.back().dtype != r.dtype() || bytes >= bucket_bytes ||
          buckets.back().elements + r.size() > INT32_MAX) {
        buckets.emplace_back().dtype = r.dtype();
        bytes = 0;
      }
      Bucket& b = buckets.back();
      b.members.push_back(i);
      b.elements += r.size();
      bytes += r.nbytes();
      stats.bytes += static_cast<double>(r.nbytes());
      bucket_of[i] = buckets.size() - 1;
    }
    for (Bucket& b : buckets) b.sums = Array({b.elements}, b.dtype);
    stats.buckets = buckets.size();
  }

  void start(Bucket& b) {
    char* at = static_cast<char*>(b.sums.raw());
    for (size_t m : b.members) {
      std::memcpy(at, results[m].raw(), results[m].nbytes());
      at += results[m].nbytes();
    }
    b.number = detail::arrive();
    detail::check(MPI_Iallreduce(MPI_IN_PLACE, b.sums.raw(), static_cast<int>(b.elements),
                                 b.dtype == DType::f32 ? MPI_FLOAT : MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &b.request),
                  "MPI_Iallreduce");
    b.started = true;
  }

  // Starts the buckets whose results are all computed, in bucket order.
  void start_ready() {
    while (next < buckets.size() && buckets[next].pending == 0) start(buckets[next++]);
  }

  // The means, from the sums, into the results.
  void write_means(Bucket& b) {
    const double ranks = size();
    const char* from = static_cast<const char*>(b.sums.raw());
    for (size_t m : b.members) {
      Array& r = results[m];
      if (b.dtype == DType::f32)
        divide_into(reinterpret_cast<const float*>(from), r.data<float>(), r.size(), static_cast<float>(ranks));
      else
        divide_into(reinterpret_cast<const double*>(from), r.data<double>(), r.size(), ranks);
      from += r.nbytes();
    }
  }
};

StreamingMean::StreamingMean(size_t bucket_bytes) : state_(std::make_unique<State>()) {
  if (bucket_bytes == 0) throw Error("[distributed] StreamingMean: a bucket of 0 bytes holds nothing; give 1 or more");
  state_->bucket_bytes = bucket_bytes;
}

StreamingMean::~StreamingMean() {
  // A call that threw before finish() may leave reductions running, which MPI still writes to:
  // their buffers must outlive them. The job is ending then (end_after_error), so they are kept.
  if (state_ && state_->open)
    for (const Bucket& b : state_->buckets)
      if (b.started && !b.done) {
        (void)state_.release();
        return;
      }
}

void StreamingMean::start(std::span<const Array> results, std::span<const std::string> paths) {
  State& s = *state_;
  if (s.open)
    throw Error("[distributed] StreamingMean: a new call started before finish() ended the last one; call finish() "
                "after each streamed call");
  if (size() == 1) return;
  const uint64_t structure = structure_of(results, paths);
  if (!s.planned || structure != s.structure) {
    s.planned = false;  // until the new plan is made and agreed on
    s.plan(results, paths);
    // A mismatch would make the ranks sum unrelated buffers, or reduce different sizes.
    if (std::vector<int> bad = detail::ranks_differing_from_0(detail::gather(structure)); !bad.empty())
      throw Error(fmt::format("[distributed] StreamingMean: rank(s) {} return results whose paths, dtypes or shapes "
                              "differ from rank 0's ({} results on rank {}); every rank must make the same call",
                              fmt::join(bad, ", "), results.size(), rank()));
    s.structure = structure;
    s.planned = true;
  }
  s.results.assign(results.begin(), results.end());
  for (Bucket& b : s.buckets) {
    b.pending = b.members.size();
    b.started = b.done = false;
  }
  s.next = 0;
  s.open = true;
}

void StreamingMean::ready(size_t index) {
  State& s = *state_;
  if (!s.open) return;  // alone
  const auto t = Clock::now();
  --s.buckets[s.bucket_of[index]].pending;
  s.start_ready();
  s.stats.seconds_during += since(t);
}

void StreamingMean::between_kernels() {
  State& s = *state_;
  if (!s.open) return;
  // Open MPI moves a nonblocking collective on only inside MPI calls: test the oldest running one.
  for (Bucket& b : s.buckets) {
    if (!b.started) return;
    if (b.done) continue;
    const auto t = Clock::now();
    int done = 0;
    detail::check(MPI_Test(&b.request, &done, MPI_STATUS_IGNORE), "MPI_Test");
    b.done = done != 0;
    s.stats.seconds_during += since(t);
    return;
  }
}

void StreamingMean::finish() {
  State& s = *state_;
  if (!s.open) {
    if (size() > 1) throw Error("[distributed] StreamingMean::finish: no streamed call to finish");
    ++s.stats.calls;
    return;
  }
  const auto t = Clock::now();
  s.start_ready();
  if (s.next < s.buckets.size())
    throw Error("[distributed] StreamingMean::finish: the call did not report every result (was it a streamed call?)");
  for (Bucket& b : s.buckets) {
    if (!b.done) detail::wait(b.request, "MPI_Iallreduce", b.number);
    b.done = true;
    s.write_means(b);
  }
  s.open = false;
  s.results.clear();
  ++s.stats.calls;
  s.stats.seconds_after += since(t);
}

const StreamingMean::Stats& StreamingMean::stats() const { return state_->stats; }

}  // namespace zephyr::distributed
