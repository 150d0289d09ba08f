#include "bench_distributed.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <vector>
#include <zephyr/zephyr.h>

#include "metrics_log.h"
#include "trainable.h"

namespace zephyr::cli::bench_support {
namespace {

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

std::optional<DistributedSteps> distributed_steps(const std::string& model, const std::string& data_dir,
                                                  int64_t limit, int runs, std::string& skipped) {
  const std::string mpirun = trimmed(output_of("command -v mpirun"));
  if (mpirun.empty()) {
    skipped = "mpirun not found (apt-get install openmpi-bin; tools/setup.sh does)";
    return std::nullopt;
  }
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  const std::filesystem::path work =
      std::filesystem::temp_directory_path() / fmt::format("zephyr-bench-mpi-{}", getpid());
  std::filesystem::create_directories(work);
  struct Cleanup {
    std::filesystem::path path;
    ~Cleanup() { std::filesystem::remove_all(path); }
  } cleanup{work};

  const Trainable trained = trainable(model);
  DistributedSteps out;
  out.batch = trained.batch_size;
  const ParamTree params = trace(trained.forward, random::key(0), Array::zeros({trained.batch_size, 784}));
  for (const auto& [path, leaf] : params) out.allreduced_bytes += static_cast<double>(leaf.nbytes());

  // One run: the epoch line's examples/s as milliseconds per global batch, and its all-reduce times.
  struct Run {
    double step_ms, after_ms = 0, during_ms = 0;
  };
  auto step_ms = [&](const std::string& launcher, int threads, const char* flags = "") -> std::optional<Run> {
    const std::filesystem::path log = work / "log.jsonl";
    std::filesystem::remove(log);
    const std::string command =
        fmt::format("{} '{}' train --model {} --epochs 1 --limit {} --threads {} --data '{}' --log '{}' "
                    "--checkpoint '{}'{} > /dev/null",
                    launcher, self, model, limit, threads, data_dir, log.string(), (work / "c.safetensors").string(),
                    flags);
    if (std::system(command.c_str()) != 0 || !std::filesystem::exists(log)) return std::nullopt;
    for (const nlohmann::json& line : read_metrics_log(log.string()))
      if (line.value("kind", "") == "epoch")
        return Run{1e3 * static_cast<double>(trained.batch_size) / line.at("examples_per_second").get<double>(),
                   line.value("allreduce_ms_after_backward", 0.0), line.value("allreduce_ms_during_backward", 0.0)};
    return std::nullopt;
  };
  const std::string two_ranks = fmt::format("'{}' -np 2 --oversubscribe --mca btl self,vader{}", mpirun,
                                            geteuid() == 0 ? " --allow-run-as-root" : "");
  std::vector<double> one, two, two_no_overlap, two_zero, one_two_threads, after_ms, after_no_overlap_ms,
      during_ms;
  for (int r = 0; r < runs; ++r) {
    auto a = step_ms("", 1), b = step_ms(two_ranks, 1), n = step_ms(two_ranks, 1, " --no-overlap"),
         z = step_ms(two_ranks, 1, " --zero"), c = step_ms("", 2);
    if (!a || !b || !n || !z || !c) {
      skipped = fmt::format("a run of `zephyr train --model {}` failed (one process, or {})", model, two_ranks);
      return std::nullopt;
    }
    one.push_back(a->step_ms);
    two.push_back(b->step_ms);
    two_no_overlap.push_back(n->step_ms);
    two_zero.push_back(z->step_ms);
    one_two_threads.push_back(c->step_ms);
    after_ms.push_back(b->after_ms);
    during_ms.push_back(b->during_ms);
    after_no_overlap_ms.push_back(n->after_ms);
  }
  out.one_rank = stats_of(one);
  out.two_ranks = stats_of(two);
  out.two_ranks_no_overlap = stats_of(two_no_overlap);
  out.two_ranks_zero = stats_of(two_zero);
  out.one_rank_two_threads = stats_of(one_two_threads);
  out.after_backward = stats_of(after_ms);
  out.after_backward_no_overlap = stats_of(after_no_overlap_ms);
  out.during_backward = stats_of(during_ms);
  return out;
}

}  // namespace zephyr::cli::bench_support
