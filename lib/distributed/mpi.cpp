// zephyr::distributed on MPI: the one file that includes <mpi.h>.
#include <mpi.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "zephyr/distributed.h"
#include "zephyr/error.h"
#include "../core/fnv1a.h"
#include "mpi_internal.h"

namespace zephyr::distributed {
namespace {

// Shared with the other files of lib/distributed (mpi_internal.h), defined at the end.
using detail::check;
using detail::gather;
using detail::ranks_differing_from_0;

constexpr size_t kBucketBytes = size_t{4} << 20;  // one MPI_Allreduce per ~4 MB of gradients

struct Job {
  bool mpi = false;  // false: not started by mpirun, a job of one
  int rank = 0, size = 1;
};

// mpirun (Open MPI's, or any PMI/PMIx launcher) tells its processes who they are through the
// environment. Without it MPI_Init would start a "singleton" job, which on a machine without a
// working network set-up can fail or wait: a process started by hand stays out of MPI altogether.
bool started_by_mpirun() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"})
    if (std::getenv(name) != nullptr) return true;
  return false;
}


// The watchdog on collectives. Before each collective the ranks meet at a nonblocking barrier,
// polled until it completes or collective_timeout() passes. To name the ranks a timed-out
// collective waits for, every rank tells every other one, on a communicator of its own, the
// number of each collective it enters (a tiny eager send that never blocks); a rank whose last
// number is below ours has not arrived.
class Watchdog {
 public:
  void start(int rank, int size) {
    check(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    rank_ = rank;
    const auto n = static_cast<size_t>(size);
    sent_.assign(n, 0);
    received_.assign(n, 0);
    latest_.assign(n, 0);
    sends_.assign(n, MPI_REQUEST_NULL);
    receives_.assign(n, MPI_REQUEST_NULL);
    for (int peer = 0; peer < size; ++peer)
      if (peer != rank) post_receive(peer);
  }

  // Before each collective: its number, announced to every other rank, and the notes that have
  // come in read (unread, they would pile up in MPI's unexpected-message queue).
  uint64_t arrive() {
    const uint64_t n = ++entered_;
    read_notes();
    for (int peer = 0; peer < static_cast<int>(sends_.size()); ++peer) {
      if (peer == rank_) continue;
      auto& send = sends_[static_cast<size_t>(peer)];
      int done = 1;
      if (send != MPI_REQUEST_NULL) MPI_Test(&send, &done, MPI_STATUS_IGNORE);
      if (!done) continue;  // the last note has not left: that peer is behind and will read a later one
      sent_[static_cast<size_t>(peer)] = n;
      MPI_Isend(&sent_[static_cast<size_t>(peer)], 1, MPI_UINT64_T, peer, kTag, comm_, &send);
    }
    return n;
  }

  // Polls `request` (the meeting before collective `call`, number `n`) to completion, or throws
  // at the timeout.
  void wait(MPI_Request& request, const char* call, uint64_t n) {
    using Clock = std::chrono::steady_clock;
    const auto begin = Clock::now();
    for (uint64_t polls = 1;; ++polls) {
      int done = 0;
      check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), call);
      if (done) return;
      if (polls % 1024 != 0) continue;
      const double waited = std::chrono::duration<double>(Clock::now() - begin).count();
      if (waited > timeout) throw Error(timed_out(call, n, waited));
      std::this_thread::yield();  // the other rank may share this core
    }
  }

  void stop() {
    for (auto* requests : {&sends_, &receives_})
      for (MPI_Request& r : *requests)
        if (r != MPI_REQUEST_NULL) {
          MPI_Cancel(&r);
          MPI_Request_free(&r);
        }
  }

  MPI_Comm comm() const { return comm_; }

  double timeout = 300;  // seconds: collective_timeout()

 private:
  static constexpr int kTag = 1;

  void post_receive(int peer) {
    const auto p = static_cast<size_t>(peer);
    MPI_Irecv(&received_[p], 1, MPI_UINT64_T, peer, kTag, comm_, &receives_[p]);
  }

  // Every note that has come, in order: the newest is each peer's place.
  void read_notes() {
    for (int peer = 0; peer < static_cast<int>(receives_.size()); ++peer) {
      if (peer == rank_) continue;
      const auto p = static_cast<size_t>(peer);
      for (int done = 1; done;) {
        MPI_Test(&receives_[p], &done, MPI_STATUS_IGNORE);
        if (done) {
          latest_[p] = received_[p];
          post_receive(peer);
        }
      }
    }
  }

  std::string timed_out(const char* call, uint64_t n, double waited) {
    read_notes();
    std::vector<std::string> behind;
    for (int peer = 0; peer < static_cast<int>(receives_.size()); ++peer) {
      if (peer == rank_) continue;
      const auto p = static_cast<size_t>(peer);
      if (latest_[p] < n)
        behind.push_back(latest_[p] == 0 ? fmt::format("rank {} (no collective yet)", peer)
                                         : fmt::format("rank {} (last at collective {})", peer, latest_[p]));
    }
    if (behind.empty()) {
      // Every rank started this (nonblocking) collective, and one of them stopped inside it: which
      // one cannot be told from here, so every other rank is named.
      std::vector<int> others;
      for (int peer = 0; peer < static_cast<int>(receives_.size()); ++peer)
        if (peer != rank_) others.push_back(peer);
      return fmt::format("[distributed] {} (collective {}) waited {:.0f} s on rank {}: every rank started it, and "
                         "{} {} has not finished its part: {} died or hangs (collective timeout {:g} s, "
                         "ZEPHYR_COLLECTIVE_TIMEOUT)",
                         call, n, waited, rank_, others.size() == 1 ? "rank" : "one of ranks", fmt::join(others, ", "),
                         others.size() == 1 ? "it" : "that rank", timeout);
    }
    return fmt::format("[distributed] {} (collective {}) waited {:.0f} s on rank {} for {}: {} died or hangs "
                       "(collective timeout {:g} s, ZEPHYR_COLLECTIVE_TIMEOUT)",
                       call, n, waited, rank_, fmt::join(behind, ", "), behind.size() == 1 ? "it" : "they", timeout);
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  uint64_t entered_ = 0;
  std::vector<uint64_t> sent_, received_, latest_;  // per peer
  std::vector<MPI_Request> sends_, receives_;
};

Watchdog& watchdog() {
  static auto* w = new Watchdog;  // never destroyed: MPI's finalizer at exit still uses it
  return *w;
}

double timeout_from_environment() {
  const char* text = std::getenv("ZEPHYR_COLLECTIVE_TIMEOUT");
  if (text == nullptr || *text == '\0') return 300;
  char* end = nullptr;
  const double seconds = std::strtod(text, &end);
  if (*end != '\0' || !(seconds > 0))
    throw Error(fmt::format("[distributed] ZEPHYR_COLLECTIVE_TIMEOUT='{}' is not a positive number of seconds", text));
  return seconds;
}

Job& job() {
  static Job j;
  static std::once_flag once;
  std::call_once(once, [] {
    if (!started_by_mpirun()) return;
    const double timeout = timeout_from_environment();
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      // Open MPI's nonblocking all-reduce (StreamingMean's buckets) picks an algorithm that took
      // 0.69-0.77 ms for 2.7 MB on two ranks here, against 0.47-0.51 for the blocking one; its
      // ring takes as long as the blocking one at every bucket size (64 KB to 2.7 MB), and is
      // the bandwidth-optimal choice for large buckets on more ranks too. A value the user set
      // (mpirun --mca, the environment) is kept. Other MPIs ignore the variable.
      setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "1", /*overwrite=*/0);
      int provided = 0;
      // Collectives are called from one thread at a time, which may not be the main one.
      MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
      std::atexit([] {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (finalized) return;
        watchdog().stop();
        MPI_Finalize();
      });
    }
    // Errors come back as codes, turned into exceptions that name the call and the rank, instead
    // of MPI's default of aborting the whole job without a word about where.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    j.mpi = true;
    check(MPI_Comm_rank(MPI_COMM_WORLD, &j.rank), "MPI_Comm_rank");
    check(MPI_Comm_size(MPI_COMM_WORLD, &j.size), "MPI_Comm_size");
    watchdog().timeout = timeout;
    watchdog().start(j.rank, j.size);
  });
  return j;
}

// The backstop for a rank that stops inside a blocking collective, after the meeting: a thread
// that ends this process (and so, through mpirun, the job) if one call outlasts the timeout. It
// cannot throw, as the call never returns, nor use MPI, which one thread at a time may call.
class Deadline {
 public:
  void arm(const char* call, uint64_t n, double seconds) {
    std::lock_guard lock(mutex_);
    if (!started_) std::thread([this] { watch(); }).detach();
    started_ = true;
    call_ = call;
    n_ = n;
    seconds_ = seconds;
    until_ = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                    std::chrono::duration<double>(seconds));
    armed_ = true;
    wake_.notify_one();
  }
  void disarm() {
    std::lock_guard lock(mutex_);
    armed_ = false;
  }

 private:
  void watch() {
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_.wait(lock, [this] { return armed_; });
      if (wake_.wait_until(lock, until_, [this] { return !armed_; })) continue;
      if (!armed_ || std::chrono::steady_clock::now() < until_) continue;  // re-armed meanwhile
      std::fflush(stdout);
      std::fprintf(stderr,
                   "zephyr: error: [distributed] %s (collective %llu) has not finished after %g s, though every "
                   "rank reached it: a rank died or hangs inside it (ZEPHYR_COLLECTIVE_TIMEOUT); ending rank "
                   "%d\n",
                   call_, static_cast<unsigned long long>(n_), seconds_, rank());
      std::fflush(stderr);
      std::_Exit(1);
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  bool started_ = false, armed_ = false;
  const char* call_ = "";
  uint64_t n_ = 0;
  double seconds_ = 0;
  std::chrono::steady_clock::time_point until_;
};

Deadline& deadline() {
  static auto* d = new Deadline;  // never destroyed: its thread outlives main
  return *d;
}

// Runs one collective under the watchdog: the ranks first meet at a nonblocking barrier on the
// watchdog's communicator, polled against the timeout, then `call` runs the collective itself,
// blocking. Open MPI's blocking collectives are much faster than their nonblocking forms (a
// 2.7 MB MPI_Iallreduce made the MLP's two-rank step 1.3 ms slower); a rank that stops inside
// the call itself is left to the Deadline.
template <class Call>
void collective(const char* name, Call call) {
  const uint64_t n = watchdog().arrive();
  MPI_Request everyone = MPI_REQUEST_NULL;
  check(MPI_Ibarrier(watchdog().comm(), &everyone), name);
  watchdog().wait(everyone, name, n);
  deadline().arm(name, n, watchdog().timeout);
  const int code = call();
  deadline().disarm();
  check(code, name);
}

uint64_t structure_hash(const ParamTree& tree) {
  uint64_t h = kFnv1aBasis;
  for (const auto& [path, a] : tree) h = detail::hash_leaf(h, path, a);
  return h;
}


template <class T>
MPI_Datatype mpi_type();
template <>
MPI_Datatype mpi_type<float>() { return MPI_FLOAT; }
template <>
MPI_Datatype mpi_type<double>() { return MPI_DOUBLE; }

// Sums the leaves `which` (all of dtype T) over the ranks, bucket by bucket, into `out`, divided
// by the job's size. The bucket is an Array: its storage comes from the buffer pool, which hands
// the same warm block back every step, where a std::vector faulted its megabytes in each time
// (measured: page faults, the copies and a per-element size() were a third of a two-rank MLP step).
template <class T>
void mean_of(const ParamTree& tree, const std::vector<size_t>& which, std::vector<Array>& out) {
  const size_t bucket_elements = kBucketBytes / sizeof(T);
  size_t largest = 0;  // the bucket's size: the largest group of leaves flushed together
  for (size_t group = 0, leaf = 0; leaf < which.size(); ++leaf) {
    const auto n = static_cast<size_t>(tree.leaves()[which[leaf]].second.size());
    group = group > 0 && group + n > bucket_elements ? n : group + n;
    largest = std::max(largest, group);
  }
  if (largest == 0) return;
  Array storage({static_cast<int64_t>(largest)}, tree.leaves()[which[0]].second.dtype());
  T* bucket = storage.data<T>();
  size_t filled = 0;
  std::vector<size_t> members;  // leaves in the bucket, whole
  auto flush = [&] {
    if (filled == 0) return;
    collective("MPI_Allreduce", [&] {
      return MPI_Allreduce(MPI_IN_PLACE, bucket, static_cast<int>(filled), mpi_type<T>(), MPI_SUM, MPI_COMM_WORLD);
    });
    const T ranks = static_cast<T>(size());
    const T* at = bucket;
    for (size_t leaf : members) {
      const Array& in = tree.leaves()[leaf].second;
      Array mean(in.shape(), in.dtype());
      T* m = mean.data<T>();
      const int64_t n = in.size();
      for (int64_t i = 0; i < n; ++i) m[i] = at[i] / ranks;
      at += n;
      out[leaf] = std::move(mean);
    }
    filled = 0;
    members.clear();
  };
  for (size_t leaf : which) {
    const Array& a = tree.leaves()[leaf].second;
    // A leaf larger than a bucket is one reduction of its own; MPI counts are ints.
    if (static_cast<uint64_t>(a.size()) > static_cast<uint64_t>(INT32_MAX))
      throw Error(fmt::format("[distributed] allreduce_mean: leaf '{}' has {} elements, more than one MPI call "
                              "takes (2^31 - 1)",
                              tree.leaves()[leaf].first, a.size()));
    const auto n = static_cast<size_t>(a.size());
    if (filled > 0 && filled + n > bucket_elements) flush();
    std::memcpy(bucket + filled, a.data<T>(), n * sizeof(T));
    filled += n;
    members.push_back(leaf);
  }
  flush();
}

// The f32 leaves of `tree` end to end, padded to a multiple of the job's size: that length, and
// the structure checked against rank 0's (a mismatch would read past a buffer).
int64_t sliced_length(const ParamTree& tree, const char* op) {
  int64_t total = 0;
  for (const auto& [path, a] : tree) {
    if (a.dtype() != DType::f32)
      throw Error(fmt::format("[distributed] {}: leaf '{}' is {}; sliced trees hold f32 leaves only", op, path,
                              describe(a.dtype(), a.shape())));
    total += a.size();
  }
  const int64_t n = size();
  const int64_t length = (total + n - 1) / n * n;
  if (length / n > INT32_MAX)
    throw Error(fmt::format("[distributed] {}: a slice of {} elements is more than one MPI call takes (2^31 - 1)", op,
                            length / n));
  return length;
}
void check_same_structure(const ParamTree& tree, const char* op) {
  if (size() == 1) return;
  if (std::vector<int> bad = ranks_differing_from_0(gather(structure_hash(tree))); !bad.empty())
    throw Error(fmt::format("[distributed] {}: rank(s) {} hold a tree whose paths, dtypes or shapes differ from "
                            "rank 0's; every rank must pass the same tree",
                            op, fmt::join(bad, ", ")));
}
// Elements [from, from + count) of the tree's leaves laid end to end, into `out`; zeros past the end.
void copy_range(const ParamTree& tree, int64_t from, int64_t count, float* out) {
  int64_t offset = 0, written = 0;
  for (const auto& [path, a] : tree) {
    const int64_t begin = std::max(from, offset), end = std::min(from + count, offset + a.size());
    if (begin < end) {
      std::memcpy(out + (begin - from), a.data<float>() + (begin - offset), static_cast<size_t>(end - begin) * 4);
      written = std::max(written, end - from);
    }
    offset += a.size();
  }
  std::fill(out + written, out + count, 0.0f);
}

}  // namespace

void init() { job(); }
int rank() { return job().rank; }
int size() { return job().size; }

double collective_timeout() {
  job();
  return watchdog().timeout;
}

void set_collective_timeout(double seconds) {
  if (!(seconds > 0))
    throw Error(fmt::format("[distributed] set_collective_timeout: {} is not a positive number of seconds", seconds));
  job();
  watchdog().timeout = seconds;
}

void barrier() {
  if (job().mpi) collective("MPI_Barrier", [] { return MPI_SUCCESS; });  // the meeting is the barrier
}

int end_after_error(int code) {
  if (size() > 1) {
    std::fflush(nullptr);  // the error message first
    MPI_Abort(MPI_COMM_WORLD, code);
  }
  return code;
}

void allreduce_mean(ParamTree& tree) {
  if (size() == 1) return;
  const std::vector<uint64_t> structures = gather(structure_hash(tree));
  if (std::vector<int> bad = ranks_differing_from_0(structures); !bad.empty())
    throw Error(fmt::format("[distributed] allreduce_mean: rank(s) {} hold a tree whose paths, dtypes or shapes "
                            "differ from rank 0's ({} leaves on rank {}); every rank must pass the same tree",
                            fmt::join(bad, ", "), tree.size(), rank()));
  std::vector<size_t> f32, f64;
  for (size_t i = 0; i < tree.size(); ++i) {
    const auto& [path, a] = tree.leaves()[i];
    if (a.dtype() == DType::f32) f32.push_back(i);
    else if (a.dtype() == DType::f64) f64.push_back(i);
    else
      throw Error(fmt::format("[distributed] allreduce_mean: leaf '{}' is {}; only f32 and f64 leaves are "
                              "averaged",
                              path, describe(a.dtype(), a.shape())));
  }
  std::vector<Array> means(tree.size());
  mean_of<float>(tree, f32, means);
  mean_of<double>(tree, f64, means);
  std::vector<ParamTree::Leaf> leaves;
  for (size_t i = 0; i < tree.size(); ++i) leaves.push_back({tree.leaves()[i].first, std::move(means[i])});
  tree = ParamTree(std::move(leaves));
}

void broadcast(ParamTree& tree, int root) {
  if (root < 0 || root >= size())
    throw Error(fmt::format("[distributed] broadcast: root {} is not a rank of this job (0 to {})", root, size() - 1));
  if (size() == 1) return;
  // The structure is checked against the root's first: a mismatch would otherwise read past a buffer.
  uint64_t structure = structure_hash(tree);
  const uint64_t mine = structure;
  collective("MPI_Bcast", [&] { return MPI_Bcast(&structure, 1, MPI_UINT64_T, root, MPI_COMM_WORLD); });
  const int differs = structure != mine;
  int any = 0;
  collective("MPI_Allreduce", [&] { return MPI_Allreduce(&differs, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD); });
  if (any)
    throw Error(fmt::format("[distributed] broadcast: the ranks' trees differ from root {}'s in paths, dtypes or "
                            "shapes{}",
                            root, differs ? fmt::format(" (rank {} among them)", rank()) : ""));
  std::vector<ParamTree::Leaf> leaves;
  for (const auto& [path, a] : tree) {
    Array copy = rank() == root ? a.clone() : Array(a.shape(), a.dtype());
    for (size_t done = 0; done < copy.nbytes();) {  // MPI counts are ints: large leaves in pieces
      const size_t piece = std::min<size_t>(copy.nbytes() - done, size_t{1} << 30);
      collective("MPI_Bcast", [&] {
        return MPI_Bcast(static_cast<char*>(copy.raw()) + done, static_cast<int>(piece), MPI_BYTE, root,
                         MPI_COMM_WORLD);
      });
      done += piece;
    }
    leaves.push_back({path, std::move(copy)});
  }
  tree = ParamTree(std::move(leaves));
}

Array shard(const Array& global_batch) {
  if (global_batch.ndim() == 0) throw Error("[distributed] shard: a scalar has no batch axis to split");
  const int64_t rows = global_batch.shape()[0], n = size();
  if (rows % n != 0)
    throw Error(fmt::format("[distributed] shard: a batch of {} rows ({}) does not split evenly over {} ranks",
                            rows, describe(global_batch.dtype(), global_batch.shape()), n));
  Shape shape = global_batch.shape();
  shape[0] = rows / n;
  Array out(shape, global_batch.dtype());
  const size_t bytes = out.nbytes();
  std::memcpy(out.raw(), static_cast<const char*>(global_batch.raw()) + bytes * static_cast<size_t>(rank()), bytes);
  return out;
}

uint64_t fingerprint(const ParamTree& tree) {
  uint64_t h = structure_hash(tree);
  for (const auto& [path, a] : tree) h = fnv1a(a.raw(), a.nbytes(), h);
  return h;
}

void check_replicas_agree(const ParamTree& tree, std::string_view what) {
  if (size() == 1) return;
  const std::vector<uint64_t> all = gather(fingerprint(tree));
  if (std::vector<int> bad = ranks_differing_from_0(all); !bad.empty())
    throw Error(fmt::format("[distributed] {}: rank(s) {} hold different bits from rank 0 (fingerprints {:016x} "
                            "vs {:016x}); the replicas have diverged",
                            what, fmt::join(bad, ", "), all[static_cast<size_t>(bad[0])], all[0]));
}

Array local_slice(const ParamTree& tree) {
  const int64_t length = sliced_length(tree, "local_slice"), n = length / size();
  Array slice({n}, DType::f32);
  copy_range(tree, n * rank(), n, slice.data<float>());
  return slice;
}

Array reduce_scatter_mean(const ParamTree& tree) {
  const int64_t length = sliced_length(tree, "reduce_scatter_mean"), n = length / size();
  if (size() == 1) return local_slice(tree);
  check_same_structure(tree, "reduce_scatter_mean");
  Array all({length}, DType::f32), slice({n}, DType::f32);
  copy_range(tree, 0, length, all.data<float>());
  collective("MPI_Reduce_scatter_block", [&] {
    return MPI_Reduce_scatter_block(all.data<float>(), slice.data<float>(), static_cast<int>(n), MPI_FLOAT, MPI_SUM,
                                    MPI_COMM_WORLD);
  });
  const float ranks = static_cast<float>(size());
  float* x = slice.data<float>();
  for (int64_t i = 0; i < n; ++i) x[i] /= ranks;
  return slice;
}

void allgather_slices(const Array& slice, ParamTree& tree) {
  const int64_t length = sliced_length(tree, "allgather_slices"), n = length / size();
  if (slice.dtype() != DType::f32 || slice.shape() != Shape{n})
    throw Error(fmt::format("[distributed] allgather_slices: the slice is {}, but this tree's slices are f32[{}] "
                            "on {} rank(s)",
                            describe(slice.dtype(), slice.shape()), n, size()));
  Array all({length}, DType::f32);
  if (size() == 1) {
    std::memcpy(all.raw(), slice.raw(), slice.nbytes());
  } else {
    check_same_structure(tree, "allgather_slices");
    collective("MPI_Allgather", [&] {
      return MPI_Allgather(slice.data<float>(), static_cast<int>(n), MPI_FLOAT, all.data<float>(), static_cast<int>(n),
                           MPI_FLOAT, MPI_COMM_WORLD);
    });
  }
  // New arrays: the tree's old ones may be shared with the caller's other handles.
  std::vector<ParamTree::Leaf> leaves;
  int64_t offset = 0;
  for (const auto& [path, a] : tree) {
    Array leaf(a.shape(), DType::f32);
    std::memcpy(leaf.raw(), all.data<float>() + offset, leaf.nbytes());
    offset += a.size();
    leaves.push_back({path, std::move(leaf)});
  }
  tree = ParamTree(std::move(leaves));
}

namespace detail {

uint64_t hash_leaf(uint64_t h, std::string_view path, const Array& leaf) {
  h = fnv1a(path.data(), path.size(), h);
  h = fnv1a("", 1, h);  // the path's end: ("ab", "c") and ("a", "bc") differ
  const int dtype = static_cast<int>(leaf.dtype());
  h = fnv1a(&dtype, sizeof dtype, h);
  const size_t rank = leaf.shape().size();
  h = fnv1a(&rank, sizeof rank, h);
  return fnv1a(leaf.shape().data(), rank * sizeof(int64_t), h);
}

void check(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  int rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  throw Error(fmt::format("[distributed] {} failed on rank {}: {}", call, rank, std::string_view(text, length)));
}
uint64_t arrive() {
  job();
  return watchdog().arrive();
}
void wait(MPI_Request& request, const char* call, uint64_t n) { watchdog().wait(request, call, n); }
std::vector<uint64_t> gather(uint64_t local) {
  std::vector<uint64_t> all(static_cast<size_t>(size()));
  collective("MPI_Allgather",
             [&] { return MPI_Allgather(&local, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD); });
  return all;
}
std::vector<int> ranks_differing_from_0(const std::vector<uint64_t>& values) {
  std::vector<int> out;
  for (size_t r = 1; r < values.size(); ++r)
    if (values[r] != values[0]) out.push_back(static_cast<int>(r));
  return out;
}

}  // namespace detail
}  // namespace zephyr::distributed
