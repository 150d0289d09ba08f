// Jitted::streamed: a listener hears of each result once, as soon as the kernel that computes it
// has run (its value is already the one returned), and a backward pass reports the last layer's
// gradients before the first layer's.
#include <doctest/doctest.h>
#include <zephyr/zephyr.h>

#include <map>
#include <string>
#include <vector>

#include "reference.h"

namespace z = zephyr;
using z::testing::random_array;

namespace {

// Records what it hears: each result's value when told of it, and how many kernel boundaries had
// passed by then.
class Recorder final : public z::ResultListener {
 public:
  void start(std::span<const z::Array> results, std::span<const std::string> paths) override {
    results_.assign(results.begin(), results.end());
    paths_.assign(paths.begin(), paths.end());
    heard.assign(results.size(), 0);
    snapshot.assign(results.size(), z::Array());
    boundary.assign(results.size(), -1);
    ++starts;
  }
  void ready(size_t index) override {
    REQUIRE(index < results_.size());
    ++heard[index];
    snapshot[index] = results_[index].clone();
    boundary[index] = boundaries;
  }
  void between_kernels() override { ++boundaries; }

  // The position (in `paths`) of the result named `path`.
  size_t at(const std::string& path) const {
    for (size_t i = 0; i < paths_.size(); ++i)
      if (paths_[i] == path) return i;
    FAIL("no result named " << path);
    return 0;
  }

  int starts = 0;
  long boundaries = 0;
  std::vector<int> heard;
  std::vector<z::Array> snapshot;
  std::vector<long> boundary;  // kernel boundaries passed when told of each result

 private:
  std::vector<z::Array> results_;
  std::vector<std::string> paths_;
};

z::Tensor loss_of(z::Params p, z::Tensor x, z::Tensor y) {
  z::Tensor h = x;
  for (const char* layer : {"l0", "l1", "l2"}) {
    z::Params q = p[layer];
    q["w"] == z::array({h.shape()[1], 24}, z::init::glorot_uniform);
    z::Tensor w = q["w"];
    h = z::tanh(z::matmul(h, w));
  }
  return z::mean(z::square(h - y));
}

void check_bits(const z::Array& got, const z::Array& want) {
  REQUIRE(got.shape() == want.shape());
  for (int64_t i = 0; i < got.size(); ++i) CHECK(got.at(i) == want.at(i));
}

}  // namespace

TEST_CASE("streamed: each result heard once, final when heard, last layer first") {
  for (int threads : {1, 2}) {
    INFO("threads " << threads);
    const z::Array x = random_array({37, 19}, 1), y = random_array({37, 24}, 2);
    const z::ParamTree params = z::trace(loss_of, z::random::key(0), x, y);
    z::compiler::Options options;
    options.threads = threads;
    auto grad_step = z::jit(
        [](z::Params p, z::Tensor x, z::Tensor y) {
          auto [loss, grads] = z::value_and_grad(loss_of)(p, x, y);
          return std::tuple{grads, loss};
        },
        options);
    Recorder recorder;
    auto [grads, loss] = grad_step.streamed(recorder, params, x, y);
    auto [plain_grads, plain_loss] = grad_step(params, x, y);  // the same code, not listened to

    CHECK(recorder.starts == 1);
    REQUIRE(recorder.heard.size() == 4);  // three gradients, then the loss
    for (int n : recorder.heard) CHECK(n == 1);
    // What each result held when heard of is what the call returned, and what a plain call returns.
    for (size_t i = 0; i < 3; ++i) {
      check_bits(recorder.snapshot[i], grads.leaves()[i].second);
      check_bits(grads.leaves()[i].second, plain_grads.leaves()[i].second);
    }
    check_bits(recorder.snapshot[3], loss);
    check_bits(loss, plain_loss);
    // The schedule tells as it goes: the last layer's gradient before the first's, with kernels
    // still to run.
    const size_t w0 = recorder.at("l0/w"), w2 = recorder.at("l2/w");
    CHECK(recorder.boundary[w2] < recorder.boundary[w0]);
    CHECK(recorder.boundary[w2] < recorder.boundaries);
  }
}

TEST_CASE("streamed: the interpreter tells of every result when the run ends") {
  const z::Array x = random_array({5, 7}, 3), y = random_array({5, 24}, 4);
  const z::ParamTree params = z::trace(loss_of, z::random::key(1), x, y);
  auto f = z::interpret([](z::Params p, z::Tensor x, z::Tensor y) { return z::grad(loss_of)(p, x, y); });
  Recorder recorder;
  const z::ParamTree grads = f.streamed(recorder, params, x, y);
  REQUIRE(recorder.heard.size() == grads.size());
  for (size_t i = 0; i < grads.size(); ++i) {
    CHECK(recorder.heard[i] == 1);
    check_bits(recorder.snapshot[i], grads.leaves()[i].second);
  }
  CHECK(recorder.boundaries == 0);
}
