#include "lm_step.h"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <malloc.h>

#include <cstring>
#include <vector>
#include <zephyr/zephyr.h>

#include "bench_support.h"
#include "models.h"

namespace zephyr::cli {

void lm_step(const LmStepOptions& o) {
  using bench_support::seconds;
  Array tokens({o.batch, o.context + 1}, DType::i32);
  uint32_t lcg = 1;  // byte tokens, the same in every run
  for (int64_t i = 0; i < tokens.size(); ++i) tokens.data<int32_t>()[i] = static_cast<int32_t>((lcg = lcg * 1664525u + 1013904223u) >> 24);
  ParamTree params;
  const double trace_s = seconds([&] {
    params = trace(transformer_loss, random::key(0), tokens, o.blocks, o.model_dim, o.heads, o.flash_block);
  });
  optim::Optimizer adam = optim::adam(1e-3);
  ParamTree state = adam.init(params);
  compiler::Options options;
  options.threads = o.threads;
  auto train_step = [adam](Params p, OptState s, Tensor x, int blocks, int dim, int heads, int flash_block) {
    auto [loss, grads] = value_and_grad(transformer_loss)(p, x, blocks, dim, heads, flash_block);
    auto [p2, s2] = adam.update(grads, s, p);
    return std::tuple{p2, s2, loss};
  };
  if (o.compile_only) {
    const double rss_before = bench_support::rss_bytes();
    bench_support::reset_peak_rss();
    compiler::CompileStats stats;
    const double compile_s = seconds([&] {
      Function fn = make_function(train_step, params, state, tokens, o.blocks, o.model_dim, o.heads, o.flash_block);
      if (o.threads <= 0) options.threads = compiler::default_threads();
      stats = compiler::compile(fn, options)->stats();
    });
    const double above_mb = (bench_support::peak_rss_bytes() - rss_before) / 1e6;
    nlohmann::json out = {{"blocks", o.blocks}, {"parameters", params.count()}, {"trace_s", trace_s},
                          {"compile_s", compile_s}, {"compile_memory_mb", above_mb},
                          {"kernel_calls", stats.kernel_calls}, {"distinct", stats.distinct},
                          {"from_cache", stats.from_cache}, {"compiled", stats.compiled}};
    if (o.json) {
      fmt::print("{}\n", out.dump());
    } else {
      fmt::print("lm: {} blocks, {} parameters: trace {:.2f} s, compile {:.2f} s using {:.0f} MB; {} kernel calls, "
                 "{} distinct kernels, {} from the cache, {} compiled\n",
                 o.blocks, params.count(), trace_s, compile_s, above_mb, stats.kernel_calls, stats.distinct,
                 stats.from_cache, stats.compiled);
    }
    return;
  }
  auto step = jit(train_step, options);
  Array loss;
  auto once = [&] {
    auto [p2, s2, l] = step(params, state, tokens, o.blocks, o.model_dim, o.heads, o.flash_block);
    params = std::move(p2);
    state = std::move(s2);
    loss = std::move(l);
  };
  const double first_s = seconds(once);
  const compiler::CompileStats stats = step.last_compile();
  std::vector<double> step_times;
  for (int i = 0; i < o.steps; ++i) step_times.push_back(seconds(once));
  const bench_support::Stats steps = step_times.empty() ? bench_support::Stats{0, 0, 0} : bench_support::stats_of(step_times);
  const double step_s = steps.min;
  const double peak_mb = bench_support::peak_rss_bytes() / 1e6;
  // The memory a step needs beyond the model, measured as the PyTorch baseline's is: the rise of
  // the resident set over one step, from a process that handed its free memory back first.
  release_pooled_memory();
  malloc_trim(0);
  const double rss_before = bench_support::rss_bytes();
  bench_support::reset_peak_rss();
  once();
  const double step_memory_mb = (bench_support::peak_rss_bytes() - rss_before) / 1e6;
  const double arena_mb = static_cast<double>(stats.intermediate_bytes) / 1e6;
  // The bits of the loss and of every parameter after the steps: equal across runs and caches.
  uint64_t checksum = 1469598103934665603ull;
  for (const auto& [path, array] : params) {
    const auto* bytes = static_cast<const unsigned char*>(array.raw());
    for (size_t i = 0; i < array.nbytes(); ++i) checksum = (checksum ^ bytes[i]) * 1099511628211ull;
  }
  if (o.json) {
    nlohmann::json out = {{"blocks", o.blocks}, {"parameters", params.count()}, {"trace_s", trace_s},
                          {"first_call_s", first_s}, {"compile_s", stats.partition_seconds + stats.compile_seconds + stats.link_seconds},
                          {"step_s", step_s}, {"step_median_s", steps.median}, {"step_max_s", steps.max},
                          {"kernel_calls", stats.kernel_calls},
                          {"distinct", stats.distinct}, {"from_cache", stats.from_cache}, {"compiled", stats.compiled},
                          {"peak_rss_mb", peak_mb}, {"step_memory_mb", step_memory_mb}, {"arena_mb", arena_mb},
                          {"loss", loss.item<float>()}, {"checksum", fmt::format("{:016x}", checksum)}};
    fmt::print("{}\n", out.dump());
    return;
  }
  fmt::print("lm: {} blocks, d_model {}, {} heads, context {}, batch {}: {} parameters\n", o.blocks, o.model_dim, o.heads,
             o.context, o.batch, params.count());
  fmt::print("trace {:.2f} s; first step {:.2f} s: {} kernel calls, {} distinct kernels, {} from the cache, {} compiled\n",
             trace_s, first_s, stats.kernel_calls, stats.distinct, stats.from_cache, stats.compiled);
  if (o.steps > 0) fmt::print("step {:.2f} ms (best of {}); loss {:.4f}; peak RSS {:.0f} MB; checksum {:016x}\n",
                              step_s * 1e3, o.steps, loss.item<float>(), peak_mb, checksum);
  fmt::print("a step's memory: {:.1f} MB above the model (resident set), of which {:.1f} MB planned intermediates\n",
             step_memory_mb, arena_mb);
}

}  // namespace zephyr::cli
