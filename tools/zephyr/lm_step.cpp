#include "lm_step.h"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <cstring>
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
    params = trace(transformer_loss, random::key(0), tokens, o.blocks, o.model_dim, o.heads);
  });
  optim::Optimizer adam = optim::adam(1e-3);
  ParamTree state = adam.init(params);
  compiler::Options options;
  options.threads = o.threads;
  auto train_step = [adam](Params p, OptState s, Tensor x, int blocks, int dim, int heads) {
    auto [loss, grads] = value_and_grad(transformer_loss)(p, x, blocks, dim, heads);
    auto [p2, s2] = adam.update(grads, s, p);
    return std::tuple{p2, s2, loss};
  };
  if (o.compile_only) {
    const double rss_before = bench_support::rss_bytes();
    bench_support::reset_peak_rss();
    compiler::CompileStats stats;
    const double compile_s = seconds([&] {
      Function fn = make_function(train_step, params, state, tokens, o.blocks, o.model_dim, o.heads);
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
    auto [p2, s2, l] = step(params, state, tokens, o.blocks, o.model_dim, o.heads);
    params = std::move(p2);
    state = std::move(s2);
    loss = std::move(l);
  };
  const double first_s = seconds(once);
  const compiler::CompileStats stats = step.last_compile();
  double step_s = 1e30;
  for (int i = 0; i < o.steps; ++i) step_s = std::min(step_s, seconds(once));
  // The bits of the loss and of every parameter after the steps: equal across runs and caches.
  uint64_t checksum = 1469598103934665603ull;
  for (const auto& [path, array] : params) {
    const auto* bytes = static_cast<const unsigned char*>(array.raw());
    for (size_t i = 0; i < array.nbytes(); ++i) checksum = (checksum ^ bytes[i]) * 1099511628211ull;
  }
  const double peak_mb = bench_support::peak_rss_bytes() / 1e6;
  if (o.json) {
    nlohmann::json out = {{"blocks", o.blocks}, {"parameters", params.count()}, {"trace_s", trace_s},
                          {"first_call_s", first_s}, {"compile_s", stats.partition_seconds + stats.compile_seconds + stats.link_seconds},
                          {"step_s", o.steps > 0 ? step_s : 0.0}, {"kernel_calls", stats.kernel_calls},
                          {"distinct", stats.distinct}, {"from_cache", stats.from_cache}, {"compiled", stats.compiled},
                          {"peak_rss_mb", peak_mb}, {"loss", loss.item<float>()}, {"checksum", fmt::format("{:016x}", checksum)}};
    fmt::print("{}\n", out.dump());
    return;
  }
  fmt::print("lm: {} blocks, d_model {}, {} heads, context {}, batch {}: {} parameters\n", o.blocks, o.model_dim, o.heads,
             o.context, o.batch, params.count());
  fmt::print("trace {:.2f} s; first step {:.2f} s: {} kernel calls, {} distinct kernels, {} from the cache, {} compiled\n",
             trace_s, first_s, stats.kernel_calls, stats.distinct, stats.from_cache, stats.compiled);
  if (o.steps > 0) fmt::print("step {:.2f} ms (best of {}); loss {:.4f}; peak RSS {:.0f} MB; checksum {:016x}\n",
                              step_s * 1e3, o.steps, loss.item<float>(), peak_mb, checksum);
}

}  // namespace zephyr::cli
