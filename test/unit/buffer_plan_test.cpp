// The schedule's buffer plan (lib/compiler/buffer_plan.h): values whose lifetimes overlap never
// share bytes, the others reuse them, and every place is aligned. White-box: the plan is plain C++.
#include <doctest/doctest.h>
#include <zephyr/zephyr.h>

#include <algorithm>

#include "../../lib/compiler/buffer_plan.h"
#include "../../lib/compiler/partition.h"
#include "small_models.h"

namespace z = zephyr;
using z::compiler::BufferPlan;
using z::compiler::Schedule;

namespace {

// Computed here from the calls, independently of the planner: [first call, last call] per value.
std::vector<std::pair<size_t, size_t>> lifetimes(const Schedule& s, const BufferPlan& plan) {
  std::vector<std::pair<size_t, size_t>> life(s.values.size(), {0, 0});
  for (size_t c = 0; c < s.calls.size(); ++c)
    for (size_t v : s.calls[c].outputs) life[v] = {c, c};
  for (size_t c = 0; c < s.calls.size(); ++c)
    for (size_t in : s.calls[c].inputs) life[in].second = std::max(life[in].second, c);
  for (size_t r = 0; r < s.results.size(); ++r)
    if (plan.copied[r]) life[s.results[r]].second = s.calls.size();
  return life;
}

void check_plan(const Schedule& s) {
  const BufferPlan plan = z::compiler::plan_buffers(s);
  const auto life = lifetimes(s, plan);
  size_t sum = 0, peak_live = 0;
  std::vector<size_t> in_arena;
  for (const z::compiler::KernelCall& call : s.calls)
    for (size_t v : call.outputs) {
      if (plan.direct_result[v] >= 0) {
        CHECK(plan.offset[v] == -1);
        continue;
      }
      REQUIRE(plan.offset[v] >= 0);
      CHECK(plan.offset[v] % BufferPlan::kAlignment == 0);
      CHECK(static_cast<size_t>(plan.offset[v]) + plan.bytes[v] <= plan.arena_bytes);
      sum += plan.bytes[v];
      in_arena.push_back(v);
    }
  for (size_t c = 0; c < s.calls.size(); ++c) {
    size_t live = 0;
    for (size_t v : in_arena)
      if (life[v].first <= c && c <= life[v].second) live += plan.bytes[v];
    peak_live = std::max(peak_live, live);
  }
  for (size_t i = 0; i < in_arena.size(); ++i)
    for (size_t j = i + 1; j < in_arena.size(); ++j) {
      const size_t a = in_arena[i], b = in_arena[j];
      if (life[a].first > life[b].second || life[b].first > life[a].second) continue;
      const size_t a0 = plan.offset[a], b0 = plan.offset[b];
      INFO("values " << a << " and " << b << " live at once");
      CHECK((a0 + plan.bytes[a] <= b0 || b0 + plan.bytes[b] <= a0));
    }
  CHECK(plan.arena_bytes >= peak_live);
  CHECK(plan.arena_bytes < sum);  // these models' intermediates do reuse bytes
  MESSAGE("arena ", plan.arena_bytes, " bytes; peak live ", peak_live, "; sum ", sum);
}

}  // namespace

TEST_CASE("buffer plan: a chain of four calls needs two buffers, the last written into the result") {
  Schedule s;
  s.arguments = 1;
  for (int v = 0; v < 5; ++v) s.values.push_back({{256}, z::DType::f32});  // 1 KiB each
  for (size_t v = 1; v < 5; ++v) s.calls.push_back({0, {v - 1}, {v}, "neg"});
  s.results = {4};
  const BufferPlan plan = z::compiler::plan_buffers(s);
  CHECK(plan.direct_result[4] == 0);
  CHECK(plan.offset[1] == plan.offset[3]);  // 1 is dead once 2 is computed; 3 takes its place
  CHECK(plan.offset[1] != plan.offset[2]);
  CHECK(plan.arena_bytes == 2048);
  check_plan(s);
}

TEST_CASE("buffer plan: a CNN's training step and a transformer's gradient share no live bytes") {
  z::Array x = z::random::uniform(z::random::key(1), {4, 12, 12, 1});
  z::Array labels = z::Array::zeros({4}, z::DType::i32);
  z::ParamTree params = z::trace(z::testing::small_cnn_loss, z::random::key(0), x, labels);
  z::optim::Optimizer adam = z::optim::adam(1e-3);
  z::ParamTree state = adam.init(params);
  z::Function step = z::make_function([adam](z::Params p, z::OptState st, z::Tensor xs, z::Tensor ys) {
    auto [loss, grads] = z::value_and_grad(z::testing::small_cnn_loss)(p, xs, ys);
    auto [p2, s2] = adam.update(grads, st, p);
    return std::tuple{p2, s2, loss};
  }, params, state, x, labels);
  check_plan(z::compiler::partition(step));

  auto lm = [](z::Params p, z::Tensor h) {
    for (int i = 0; i < 2; ++i) h = z::nets::transformer_block(p["blocks"][i], h, 2, 64, {.is_causal = true});
    return z::sum(z::mul(h, h));
  };
  z::Array h = z::random::uniform(z::random::key(2), {2, 8, 16});
  z::ParamTree lm_params = z::trace(lm, z::random::key(3), h);
  z::Function grad = z::make_function([lm](z::Params p, z::Tensor x) { return z::value_and_grad(lm)(p, x); }, lm_params, h);
  check_plan(z::compiler::partition(grad));
}

TEST_CASE("schedule order: a call that takes no more bytes than it frees runs as soon as its inputs exist") {
  // In depth-first order: a chain 1 -> 2 -> 3, then results 4 = g(1) and 5 = g(2) (as weight
  // gradients are), then 6 = h(argument) and the result 7 = k(6, 3).
  Schedule s;
  s.arguments = 1;
  for (int v = 0; v < 8; ++v) s.values.push_back({{256}, z::DType::f32});
  s.calls = {{0, {0}, {1}, ""}, {0, {1}, {2}, ""}, {0, {2}, {3}, ""}, {0, {1}, {4}, ""},
             {0, {2}, {5}, ""}, {0, {0}, {6}, ""}, {1, {6, 3}, {7}, ""}};
  s.results = {4, 5, 7};
  const size_t before = z::compiler::plan_buffers(s).arena_bytes;
  z::compiler::order_for_memory(s);
  std::vector<size_t> outputs;
  for (const z::compiler::KernelCall& c : s.calls) outputs.push_back(c.outputs[0]);
  // 4 and 5 are results (no arena bytes): each runs once its input exists; 2 and 3 then free
  // what they read. 6 takes bytes and frees none, so it keeps its place.
  CHECK(outputs == std::vector<size_t>{1, 4, 2, 5, 3, 6, 7});
  const size_t after = z::compiler::plan_buffers(s).arena_bytes;
  CHECK(after < before);
  check_plan(s);
}
