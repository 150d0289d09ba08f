// zephyr::distributed, run twice by CTest: alone (a job of one, no mpirun) and under
// `mpirun -np 2`. Each rank runs every case; the expected values are computed here from what each
// rank is known to hold, independently of MPI.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <zephyr/distributed.h>
#include <zephyr/zephyr.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace z = zephyr;
namespace dist = zephyr::distributed;

namespace {

// Rank r's leaves: w[i] = r + i / 8 (f32, 3x5), b[i] = 10 r - i (f64, 4), and a 2M-element leaf
// (8 MB: more than one 4 MB bucket) with big[i] = r * 1e-3 + i % 7.
z::ParamTree rank_tree(int r) {
  z::Array w({3, 5}, z::DType::f32), b({4}, z::DType::f64), big({2 << 20}, z::DType::f32);
  for (int i = 0; i < 15; ++i) w.data<float>()[i] = static_cast<float>(r) + static_cast<float>(i) / 8;
  for (int i = 0; i < 4; ++i) b.data<double>()[i] = 10.0 * r - i;
  for (int i = 0; i < big.size(); ++i) big.data<float>()[i] = static_cast<float>(r) * 1e-3f + static_cast<float>(i % 7);
  return z::ParamTree({{"layer/w", w}, {"layer/b", b}, {"big", big}});
}

}  // namespace

TEST_CASE("distributed: rank and size describe the job") {
  CHECK(dist::size() >= 1);
  CHECK(dist::rank() >= 0);
  CHECK(dist::rank() < dist::size());
  if (const char* n = std::getenv("ZEPHYR_TEST_EXPECT_RANKS")) CHECK(dist::size() == std::stoi(n));
  dist::barrier();
}

TEST_CASE("distributed: allreduce_mean is each leaf's mean over the ranks, the same bits everywhere") {
  const int n = dist::size();
  z::ParamTree tree = rank_tree(dist::rank());
  const z::Array before = tree.at("layer/w");
  dist::allreduce_mean(tree);
  // The mean over ranks 0..n-1 of r + c is (n - 1) / 2 + c, exact in binary for n = 1 or 2.
  const double mean_rank = (n - 1) / 2.0;
  for (int i = 0; i < 15; ++i) CHECK(tree.at("layer/w").data<float>()[i] == doctest::Approx(mean_rank + i / 8.0));
  for (int i = 0; i < 4; ++i) CHECK(tree.at("layer/b").data<double>()[i] == doctest::Approx(10.0 * mean_rank - i));
  const float* big = tree.at("big").data<float>();
  bool all_close = true;
  for (int i = 0; i < tree.at("big").size(); ++i)
    all_close &= std::abs(big[i] - static_cast<float>(mean_rank * 1e-3 + i % 7)) < 1e-5f;
  CHECK(all_close);
  CHECK(before.data<float>()[1] == static_cast<float>(dist::rank()) + 0.125f);  // the input was not written
  dist::check_replicas_agree(tree, "after allreduce_mean");
}

TEST_CASE("distributed: broadcast gives every rank the root's tree, and diverged replicas are reported") {
  z::ParamTree tree = rank_tree(dist::rank());
  if (dist::size() > 1) CHECK_THROWS_WITH_AS(dist::check_replicas_agree(tree, "epoch 1"),
                                             doctest::Contains("epoch 1: rank(s) 1"), z::Error);
  dist::broadcast(tree, 0);
  CHECK(tree.at("layer/w").data<float>()[3] == 0.375f);
  CHECK(tree.at("layer/b").data<double>()[2] == -2.0);
  CHECK(dist::fingerprint(tree) == dist::fingerprint(rank_tree(0)));
  dist::check_replicas_agree(tree, "after broadcast");
  CHECK_THROWS_WITH_AS(dist::broadcast(tree, dist::size()), doctest::Contains("is not a rank"), z::Error);
}

TEST_CASE("distributed: ZeRO-1 slices: each rank's share of the mean, gathered back whole") {
  // 7 + 4 = 11 elements end to end, padded to a multiple of the job's size; rank r holds
  // a[i] = r + i and c[i] = 100 r + i.
  const int n = dist::size(), r = dist::rank();
  z::Array a({7}, z::DType::f32), c({2, 2}, z::DType::f32);
  for (int i = 0; i < 7; ++i) a.data<float>()[i] = static_cast<float>(r + i);
  for (int i = 0; i < 4; ++i) c.data<float>()[i] = static_cast<float>(100 * r + i);
  const z::ParamTree tree({{"a", a}, {"c", c}});
  const int64_t length = (11 + n - 1) / n * n, per_rank = length / n;
  // What the whole vector end to end is on rank q, and its mean over the ranks: worked out here.
  auto element = [](int q, int64_t i) { return i < 7 ? double(q + i) : i < 11 ? double(100 * q + i - 7) : 0.0; };
  auto mean = [&](int64_t i) {
    double sum = 0;
    for (int q = 0; q < n; ++q) sum += element(q, i);
    return sum / n;
  };
  const z::Array mine = dist::local_slice(tree);
  REQUIRE(mine.shape() == z::Shape{per_rank});
  for (int64_t i = 0; i < per_rank; ++i) CHECK(mine.data<float>()[i] == element(r, r * per_rank + i));
  const z::Array averaged = dist::reduce_scatter_mean(tree);
  REQUIRE(averaged.shape() == z::Shape{per_rank});
  for (int64_t i = 0; i < per_rank; ++i) CHECK(averaged.data<float>()[i] == doctest::Approx(mean(r * per_rank + i)));
  // Gathered: every rank's averaged slice, laid back into a tree shaped like `tree`.
  z::ParamTree whole = tree;
  dist::allgather_slices(averaged, whole);
  for (int i = 0; i < 7; ++i) CHECK(whole.at("a").data<float>()[i] == doctest::Approx(mean(i)));
  for (int i = 0; i < 4; ++i) CHECK(whole.at("c").data<float>()[i] == doctest::Approx(mean(7 + i)));
  CHECK(a.data<float>()[1] == static_cast<float>(r + 1));  // the input tree was not written
  dist::check_replicas_agree(whole, "after allgather_slices");
  CHECK_THROWS_WITH_AS(dist::allgather_slices(z::Array::zeros({per_rank + 1}), whole),
                       doctest::Contains("this tree's slices are f32["), z::Error);
  CHECK_THROWS_WITH_AS(dist::local_slice(z::ParamTree({{"i", z::Array::zeros({3}, z::DType::i32)}})),
                       doctest::Contains("leaf 'i' is i32"), z::Error);
}

TEST_CASE("distributed: an optimizer state sliced and gathered is the same state") {
  // Adam's state for two params: a step count and the slots mu/<param>, nu/<param>.
  const z::ParamTree params({{"w", z::Array::full({3, 2}, 1.0)}, {"b", z::Array::full({3}, 2.0)}});
  z::ParamTree state({{"step", z::Array::full({}, 5.0, z::DType::i32)}});
  for (const char* slot : {"mu", "nu"})
    for (const auto& [path, p] : params) {
      z::Array x(p.shape(), z::DType::f32);
      for (int64_t i = 0; i < x.size(); ++i) x.data<float>()[i] = static_cast<float>(i) + (slot[0] == 'm' ? 0.5f : 0.25f);
      state.set(std::string(slot) + "/" + path, x);
    }
  const z::ParamTree sliced = dist::slice_state(state, params);
  std::vector<std::string> paths;
  for (const auto& [path, x] : sliced) paths.push_back(path);
  CHECK(paths == std::vector<std::string>{"step", "mu/slice", "nu/slice"});
  CHECK(sliced.at("mu/slice").shape() == dist::local_slice(params).shape());
  const z::ParamTree whole = dist::gather_state(sliced, params);
  CHECK(dist::fingerprint(whole) == dist::fingerprint(state));
}

TEST_CASE("distributed: shard gives each rank its rows of the global batch") {
  const int n = dist::size();
  z::Array batch({4 * n, 3}, z::DType::i32);
  for (int i = 0; i < batch.size(); ++i) batch.data<int32_t>()[i] = i;
  const z::Array mine = dist::shard(batch);
  REQUIRE(mine.shape() == z::Shape{4, 3});
  for (int i = 0; i < 12; ++i) CHECK(mine.data<int32_t>()[i] == 12 * dist::rank() + i);
  if (n > 1)
    CHECK_THROWS_WITH_AS(dist::shard(z::Array({3, 1}, z::DType::f32)), doctest::Contains("does not split evenly"),
                         z::Error);
  CHECK_THROWS_WITH_AS(dist::shard(z::Array({}, z::DType::f32)), doctest::Contains("scalar"), z::Error);
}

TEST_CASE("distributed: leaves that are not floating point, or differ between ranks, are errors") {
  z::ParamTree ints({{"steps", z::Array::zeros({2}, z::DType::i32)}});
  if (dist::size() > 1) {
    CHECK_THROWS_WITH_AS(dist::allreduce_mean(ints), doctest::Contains("'steps' is i32[2]"), z::Error);
    z::ParamTree uneven({{"w", z::Array::zeros({dist::rank() + 1})}});
    CHECK_THROWS_WITH_AS(dist::allreduce_mean(uneven), doctest::Contains("differ from rank 0's"), z::Error);
  } else {
    dist::allreduce_mean(ints);  // a job of one: nothing to average, nothing checked
    CHECK(ints.at("steps").data<int32_t>()[0] == 0);
  }
}

TEST_CASE("distributed: StreamingMean averages results as they are told of, in buckets, as allreduce_mean does") {
  const int r = dist::rank();
  // Buckets of 64 KB, from the last result: [d, c, big] (full once big is in), [b] (f64) and [w]
  // (f32 again). The results are told of out of order, with kernel boundaries between.
  dist::StreamingMean mean(64 << 10);
  for (int call = 0; call < 2; ++call) {
    z::ParamTree tree = rank_tree(r);
    z::Array c({6}, z::DType::f32), d({5}, z::DType::f32);
    for (int i = 0; i < 6; ++i) c.data<float>()[i] = static_cast<float>(3 * r + call - i);
    for (int i = 0; i < 5; ++i) d.data<float>()[i] = static_cast<float>(r * i) + 0.5f;
    std::vector<z::Array> results{tree.at("layer/w"), tree.at("layer/b"), tree.at("big"), c, d};
    const std::vector<std::string> paths{"layer/w", "layer/b", "big", "", ""};
    z::ParamTree expected({{"w", results[0].clone()}, {"b", results[1].clone()}, {"big", results[2].clone()},
                           {"c", c.clone()}, {"d", d.clone()}});
    dist::allreduce_mean(expected);
    mean.start(results, paths);
    for (size_t i : {0, 3, 2, 4, 1}) {
      mean.ready(i);
      mean.between_kernels();
    }
    mean.finish();
    for (size_t i = 0; i < results.size(); ++i) {
      const z::Array& want = expected.leaves()[i].second;
      bool same = true;
      for (int64_t e = 0; e < want.size(); ++e) same &= results[i].at(e) == want.at(e);
      CHECK_MESSAGE(same, "result " << i << " on call " << call);
    }
  }
  CHECK(mean.stats().calls == 2);
  if (dist::size() > 1) {
    CHECK(mean.stats().buckets == 3);
    CHECK(mean.stats().bytes == doctest::Approx(15 * 4 + 4 * 8 + (2 << 20) * 4 + 6 * 4 + 5 * 4));
  }
}

TEST_CASE("distributed: StreamingMean through a streamed call; misuse is an error") {
  const int r = dist::rank();
  auto f = z::interpret([](z::Tensor x) { return std::tuple{z::square(x), z::sum(x)}; });
  dist::StreamingMean mean;
  const z::Array x = z::Array::from({3}, {1.0f + r, 2.0f, -3.0f * r});
  auto [squares, total] = f.streamed(mean, x);
  mean.finish();
  // Ranks 0..n-1 hold (1 + r, 2, -3r): the means of their squares and sums.
  const int n = dist::size();
  double s0 = 0, s2 = 0, t = 0;
  for (int k = 0; k < n; ++k) {
    s0 += (1.0 + k) * (1.0 + k);
    s2 += 9.0 * k * k;
    t += 3.0 - 2.0 * k;
  }
  CHECK(squares.at(0) == doctest::Approx(s0 / n));
  CHECK(squares.at(1) == doctest::Approx(4.0));
  CHECK(squares.at(2) == doctest::Approx(s2 / n));
  CHECK(total.item<float>() == doctest::Approx(t / n));

  auto ints = z::interpret([](z::Tensor x) { return z::cast(x, z::DType::i32); });
  if (n > 1) {
    CHECK_THROWS_WITH_AS(mean.finish(), doctest::Contains("no streamed call to finish"), z::Error);
    CHECK_THROWS_WITH_AS(ints.streamed(mean, x), doctest::Contains("only f32 and f64"), z::Error);
    const z::Array uneven = z::Array::zeros({r + 1});
    CHECK_THROWS_WITH_AS(f.streamed(mean, uneven), doctest::Contains("differ from rank 0's"), z::Error);
  }
  CHECK_THROWS_WITH_AS(dist::StreamingMean(0), doctest::Contains("0 bytes"), z::Error);
}

TEST_CASE("distributed: a collective that a rank does not reach times out, naming that rank") {
  CHECK_THROWS_WITH_AS(dist::set_collective_timeout(0), doctest::Contains("not a positive number"), z::Error);
  const double before = dist::collective_timeout();
  CHECK(before > 0);
  if (dist::size() > 1) {
    // Rank 1 arrives 1.5 s late at a barrier that waits 0.5 s: rank 0 gives up and says who is missing.
    dist::set_collective_timeout(0.5);
    if (dist::rank() == 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1500));
      dist::barrier();  // completes with rank 0's abandoned barrier
    } else {
      const auto start = std::chrono::steady_clock::now();
      CHECK_THROWS_WITH_AS(dist::barrier(), doctest::Contains("for rank 1 (last at collective"), z::Error);
      const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      CHECK(waited >= 0.5);
      CHECK(waited < 1.4);
    }
  }
  dist::set_collective_timeout(before);
  dist::barrier();
}

int main(int argc, char** argv) {
  dist::init();
  doctest::Context context(argc, argv);
  if (dist::rank() != 0) context.setOption("out", "/dev/null");  // one rank's report, every rank's verdict
  return context.run();
}
