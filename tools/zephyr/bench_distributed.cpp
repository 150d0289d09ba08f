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

  // One run: the epoch line's examples/s, as milliseconds per global batch.
  auto step_ms = [&](const std::string& launcher, int threads, const char* flags = "") -> std::optional<double> {
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
        return 1e3 * static_cast<double>(trained.batch_size) / line.at("examples_per_second").get<double>();
    return std::nullopt;
  };
  const std::string two_ranks = fmt::format("'{}' -np 2 --oversubscribe --mca btl self,vader{}", mpirun,
                                            geteuid() == 0 ? " --allow-run-as-root" : "");
  std::vector<double> one, two, two_zero, one_two_threads;
  for (int r = 0; r < runs; ++r) {
    auto a = step_ms("", 1), b = step_ms(two_ranks, 1), z = step_ms(two_ranks, 1, " --zero"), c = step_ms("", 2);
    if (!a || !b || !z || !c) {
      skipped = fmt::format("a run of `zephyr train --model {}` failed (one process, or {})", model, two_ranks);
      return std::nullopt;
    }
    one.push_back(*a);
    two.push_back(*b);
    two_zero.push_back(*z);
    one_two_threads.push_back(*c);
  }
  out.one_rank = stats_of(one);
  out.two_ranks = stats_of(two);
  out.two_ranks_zero = stats_of(two_zero);
  out.one_rank_two_threads = stats_of(one_two_threads);
  return out;
}

}  // namespace zephyr::cli::bench_support
