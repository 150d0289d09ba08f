#include "train.h"

#include "metrics_log.h"
#include "run_config.h"
#include "trainable.h"
#include "train_progress.h"

#include <fmt/core.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <zephyr/distributed.h>
#include <zephyr/io/atomic_file.h>
#include <zephyr/zephyr.h>

namespace zephyr::cli {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Flags that would train nothing, or something other than asked, are refused before any work.
void validate(const TrainOptions& o) {
  auto bad = [](const std::string& what) { throw Error("[train] " + what); };
  if (o.epochs < 1 || o.epochs > 100000) bad(fmt::format("--epochs {} is out of range: give 1 to 100000", o.epochs));
  if (o.batch_size < 0 || o.batch_size > 60000)
    bad(fmt::format("--batch-size {} is out of range: give 1 to 60000 (0: the model's default)", o.batch_size));
  if (!std::isfinite(o.learning_rate) || o.learning_rate <= 0 || o.learning_rate > 10)
    bad(fmt::format("--lr {} is not a learning rate: give a number in (0, 10]", o.learning_rate));
  if (o.limit < 0) bad(fmt::format("--limit {} is negative (0: every example)", o.limit));
  if (o.stop_after < 0 || o.stop_after > o.epochs)
    bad(fmt::format("--stop-after {} is out of range: give 1 to --epochs ({}), or 0", o.stop_after, o.epochs));
  if (o.threads < 0 || o.threads > 1024) bad(fmt::format("--threads {} is out of range: give 1 to 1024 (0: every core)", o.threads));
  if (o.log_every < 1) bad(fmt::format("--log-every {} is not a step count: give 1 or more", o.log_every));
  if (o.bucket_kb < 1 || o.bucket_kb > (int64_t{1} << 20))
    bad(fmt::format("--bucket-kb {} is out of range: give 1 to 1048576 (1 GB)", o.bucket_kb));
  auto known = [](const auto& names, const std::string& value) {
    return std::find(std::begin(names), std::end(names), value) != std::end(names);
  };
  if (!known(kOptimizers, o.optimizer))
    bad(fmt::format("unknown --optimizer '{}' (known: {})", o.optimizer, fmt::join(kOptimizers, ", ")));
  if (!known(kSchedules, o.schedule))
    bad(fmt::format("unknown --schedule '{}' (known: {})", o.schedule, fmt::join(kSchedules, ", ")));
}

// One tree for one all-reduce: the gradients under "grads", and the loss.
ParamTree with_loss(const ParamTree& grads, const Array& loss) {
  std::vector<ParamTree::Leaf> leaves;
  for (const auto& [path, g] : grads) leaves.push_back({join_path("grads", path), g});
  leaves.push_back({"loss", loss});
  return ParamTree(std::move(leaves));
}

// The all-reduce's host time per step on several ranks, for the epoch lines of the metrics log:
// after the backward pass ended, and in MPI calls between its kernels (overlap only).
struct AllreduceTimes {
  double after_seconds = 0, during_seconds = 0;
  int64_t steps = 0;
  double bytes = 0;  // per step: the gradients and the loss

  void add(double after, double during) {
    after_seconds += after;
    during_seconds += during;
    ++steps;
  }
  // The epoch's means (ms per step) into `fields`, then a fresh start.
  void log_into(nlohmann::json& fields) {
    if (steps == 0) return;
    fields["allreduce_ms_after_backward"] = 1e3 * after_seconds / static_cast<double>(steps);
    fields["allreduce_ms_during_backward"] = 1e3 * during_seconds / static_cast<double>(steps);
    fields["allreduce_bytes"] = bytes;
    *this = {};
  }
};

// The sums of the ranks' evaluation totals and example counts (as f64: exact for counts).
std::pair<double, int64_t> summed_over_ranks(double total, int64_t seen) {
  if (distributed::size() == 1) return {total, seen};
  ParamTree sums({{"total", Array::full({}, total, DType::f64)},
                  {"seen", Array::full({}, static_cast<double>(seen), DType::f64)}});
  distributed::allreduce_mean(sums);
  const double n = distributed::size();
  return {sums.at("total").item<double>() * n, std::llround(sums.at("seen").item<double>() * n)};
}

}  // namespace

double train(TrainOptions o) {
  validate(o);
  const Trainable model = trainable(o.model);
  if (o.checkpoint.empty()) o.checkpoint = fmt::format("zephyr-{}.safetensors", o.model);
  if (o.batch_size <= 0) o.batch_size = model.batch_size;
  const bool classify = model.classify;
  const char* metric_name = classify ? "test_accuracy" : "test_mse";
  // Under `mpirun -np N`: N ranks, each computing the gradients of its 1/N of every global batch
  // (the same batches as one process). Rank 0 alone prints and writes the checkpoint.
  distributed::init();
  const int ranks = distributed::size();
  const bool lead = distributed::rank() == 0;
  if (o.batch_size % ranks != 0)
    throw Error(fmt::format("[train] --batch-size {} does not split evenly over {} ranks: give a multiple of {}",
                            o.batch_size, ranks, ranks));
  const bool speak = lead && !o.quiet;
  auto loss_fn = [model](Params p, Tensor x, Tensor y) { return model.loss(p, x, y); };
  auto forward = model.forward;

  auto start = Clock::now();
  data::Dataset train_set = data::load_fashion_mnist("train", o.data_dir);
  data::Dataset test_set = data::load_fashion_mnist("test", o.data_dir);
  if (o.batch_size > train_set.size() || (o.limit > 0 && o.batch_size > o.limit))
    throw Error(fmt::format("[train] --batch-size {} is larger than the {} training examples: no step would run",
                            o.batch_size, o.limit > 0 ? std::min(o.limit, train_set.size()) : train_set.size()));
  if (o.limit > 0 && o.limit < train_set.size()) {
    std::vector<int64_t> first(o.limit);
    for (int64_t i = 0; i < o.limit; ++i) first[i] = i;
    train_set = data::batch(train_set, first);
  }
  losses::check_labels(train_set.labels, 10);
  losses::check_labels(test_set.labels, 10);

  random::Key root = random::key(o.seed);
  Array example = Array::zeros({o.batch_size, 784});
  ParamTree params = trace(forward, random::fold_in(root, 0), example);
  // Adam with a cosine decay over the whole run unless the flags say otherwise (trainable.cpp).
  const int64_t steps_per_epoch = train_set.size() / o.batch_size;
  const optim::LearningRate lr = learning_rate(o, steps_per_epoch * o.epochs);
  optim::Optimizer opt = optimizer(o, lr);
  ParamTree state = opt.init(params);
  const RunConfig config = run_config(o, train_set.size());
  int first_epoch = 0;
  if (o.resume) {
    // The run's record first: a checkpoint of another run is refused before its tensors are read.
    first_epoch = resumed_epoch(o.checkpoint, io::load_safetensors_metadata(o.checkpoint), config, o.force);
    if (first_epoch >= o.epochs) {
      if (lead) fmt::print("{} is a finished run ({} of {} epochs): nothing to train, nothing written\n", o.checkpoint,
                 first_epoch, o.epochs);
      return 0;
    }
    io::Checkpoint loaded = io::load_checkpoint(o.checkpoint, params, state);
    params = loaded.params;
    state = loaded.state;
    if (lead) fmt::print("resumed from {} after epoch {}\n", o.checkpoint, first_epoch);
  } else if (lead) {
    io::AtomicFile probe(o.checkpoint);  // an unwritable checkpoint fails now, not after an epoch
  }
  // Every rank starts from rank 0's params and state (the same seed gives the same ones anyway).
  distributed::broadcast(params);
  distributed::broadcast(state);
  // ZeRO stage 1: this rank's slice of the state only (checkpoints gather it whole again).
  const bool sliced = o.zero && ranks > 1;
  std::string sliced_note;
  if (sliced) {
    auto megabytes = [](const ParamTree& tree) {
      size_t bytes = 0;
      for (const auto& [path, a] : tree) bytes += a.nbytes();
      return static_cast<double>(bytes) / 1e6;
    };
    const double whole = megabytes(state);
    state = distributed::slice_state(state, params);
    sliced_note = fmt::format("optimizer state sliced over {} ranks (--zero): {:.2f} MB per rank instead of {:.2f} MB\n",
                              ranks, megabytes(state), whole);
  }
  if (speak)
    fmt::print("training {} on Fashion-MNIST: {} parameters, {} examples, batch {}{}, {} epoch{}, {}, {} schedule{}\n",
               o.model, params.count(), train_set.size(), o.batch_size,
               ranks > 1 ? fmt::format(" ({} per rank on {} ranks)", o.batch_size / ranks, ranks) : "", o.epochs,
               plural(o.epochs), opt.name, o.schedule, o.log.empty() ? "" : ", metrics to " + o.log);
  if (speak) fmt::print("{}", sliced_note);
  if (speak && o.zero && ranks == 1) fmt::print("--zero: one process holds the whole optimizer state anyway\n");
  MetricsLog log(lead ? o.log : "", first_epoch);
  // One line of the metrics log: what every line has, then `fields`.
  auto log_line = [&](const char* kind, int epoch, int64_t step, double loss, nlohmann::json fields) {
    fields["kind"] = kind;
    fields["epoch"] = epoch + 1;
    fields["step"] = step;
    fields["loss"] = loss;
    fields["learning_rate"] = rate_at(lr, step);
    log.write(std::move(fields));
  };

  compiler::Options options;
  options.threads = o.threads;
  auto evaluate = jit([classify, forward](Params p, Tensor x, Tensor y) {
    Tensor out = forward(p, x);
    return classify ? metrics::accuracy(out, y) : losses::mse(out, x);
  }, options);
  // On several ranks the step is two compiled functions: the gradients of this rank's shard,
  // averaged over the ranks (with the loss), then the same update on every rank.
  auto grad_step = jit([loss_fn](Params p, Tensor x, Tensor y) {
    auto [loss, grads] = value_and_grad(loss_fn)(p, x, y);
    return std::tuple{grads, loss};
  }, options);
  auto apply = jit([&opt](OptState grads, OptState s, Params p) {
    auto [new_params, new_state] = opt.update(grads, s, p);
    return std::tuple{new_params, new_state};
  }, options);
  AllreduceTimes allreduce_times;
  distributed::StreamingMean streaming_mean(static_cast<size_t>(o.bucket_kb) * 1024);

  // One training step on a global batch: params and state updated, the batch's loss returned.
  // `timed`: the step counts in allreduce_times (the run's first waits for every rank's compile).
  std::function<float(const data::Dataset&, bool)> take_step;
  if (ranks == 1) {
    // The whole training step (forward, backward, Adam) is one compiled function.
    auto step = jit([&opt, loss_fn](Params p, OptState s, Tensor x, Tensor y) {
      auto [loss, grads] = value_and_grad(loss_fn)(p, x, y);
      auto [new_params, new_state] = opt.update(grads, s, p);
      return std::tuple{new_params, new_state, loss};
    }, options);
    take_step = [&, step](const data::Dataset& b, bool) {
      auto [p2, s2, value] = step(params, state, b.images, b.labels);
      params = std::move(p2);
      state = std::move(s2);
      return value.item<float>();
    };
  } else if (sliced) {
    // Each rank receives the mean gradients of its slice, updates that slice of the params and
    // its state, and every rank then gathers all the params.
    take_step = [&](const data::Dataset& b, bool) {
      auto [grads, value] = grad_step(params, distributed::shard(b.images), distributed::shard(b.labels));
      const ParamTree slice_grads({{"slice", distributed::reduce_scatter_mean(grads)}});
      ParamTree mean_loss({{"loss", value}});
      distributed::allreduce_mean(mean_loss);
      auto [p2, s2] = apply(slice_grads, state, ParamTree({{"slice", distributed::local_slice(params)}}));
      distributed::allgather_slices(p2.at("slice"), params);
      state = std::move(s2);
      return mean_loss.at("loss").item<float>();
    };
  } else if (o.overlap) {
    // The gradients (and the loss) are averaged in buckets, each started as soon as the backward
    // pass has computed it.
    take_step = [&](const data::Dataset& b, bool timed) {
      const distributed::StreamingMean::Stats before = streaming_mean.stats();
      auto [grads, value] = grad_step.streamed(streaming_mean, params, distributed::shard(b.images),
                                               distributed::shard(b.labels));
      streaming_mean.finish();  // grads and value hold their means now
      const distributed::StreamingMean::Stats& after = streaming_mean.stats();
      if (timed)
        allreduce_times.add(after.seconds_after - before.seconds_after, after.seconds_during - before.seconds_during);
      allreduce_times.bytes = after.bytes;
      auto [p2, s2] = apply(grads, state, params);
      params = std::move(p2);
      state = std::move(s2);
      return value.item<float>();
    };
  } else {
    // --no-overlap: one all-reduce of the gradients and the loss once the backward pass is done.
    take_step = [&](const data::Dataset& b, bool timed) {
      auto [grads, value] = grad_step(params, distributed::shard(b.images), distributed::shard(b.labels));
      const auto averaging = Clock::now();
      ParamTree reduced = with_loss(grads, value);
      distributed::allreduce_mean(reduced);
      if (timed) allreduce_times.add(seconds_since(averaging), 0);
      allreduce_times.bytes = 0;
      for (const auto& [path, leaf] : reduced) allreduce_times.bytes += static_cast<double>(leaf.nbytes());
      auto [p2, s2] = apply(reduced["grads"], state, params);
      params = std::move(p2);
      state = std::move(s2);
      return reduced.at("loss").item<float>();
    };
  }

  double metric = 0;
  TrainProgress progress(o.epochs, steps_per_epoch, first_epoch, o.batch_size, !speak);
  double logged_loss = 0;  // the losses since the last step line, summed
  int64_t logged_steps = 0;
  for (int epoch = first_epoch; epoch < o.epochs; ++epoch) {
    // Each epoch's order depends only on the seed and the epoch: resuming replays it exactly.
    auto order = data::batches(random::fold_in(root, 1000 + epoch), train_set.size(), o.batch_size);
    progress.start_epoch(epoch);
    for (size_t i = 0; i < order.size(); ++i) {
      const bool timed = epoch != first_epoch || i > 0;  // the run's first step waits for every rank's compile
      const float loss = take_step(data::batch(train_set, order[i]), timed);
      progress.step(static_cast<int64_t>(i), loss);
      const int64_t step_count = epoch * steps_per_epoch + static_cast<int64_t>(i) + 1;
      logged_loss += loss;
      if (++logged_steps == o.log_every || i + 1 == order.size()) {
        log_line("step", epoch, step_count, logged_loss / static_cast<double>(logged_steps),
                 {{"examples_per_second", progress.examples_per_second()}});
        logged_loss = 0;
        logged_steps = 0;
      }
    }
    progress.end_epoch();
    const double speed = progress.examples_per_second();  // before evaluation, which is not training
    distributed::check_replicas_agree(params, fmt::format("[train] params after epoch {}", epoch + 1));
    // Sliced, the ranks' states differ by design: the whole state, gathered, is what must agree.
    const ParamTree whole_state = sliced ? distributed::gather_state(state, params) : state;
    distributed::check_replicas_agree(whole_state, fmt::format("[train] optimizer state after epoch {}", epoch + 1));

    const int64_t eval_batch = 1000;
    double total = 0;
    int64_t seen = 0;
    // Evaluation is sharded too: rank r takes the test batches r, r + N, ...; the sums are reduced.
    for (int64_t begin = eval_batch * distributed::rank(); begin < test_set.size(); begin += eval_batch * ranks) {
      std::vector<int64_t> rows;
      for (int64_t r = begin; r < std::min(begin + eval_batch, test_set.size()); ++r) rows.push_back(r);
      data::Dataset b = data::batch(test_set, rows);
      total += evaluate(params, b.images, b.labels).item<float>() * static_cast<double>(rows.size());
      seen += static_cast<int64_t>(rows.size());
    }
    std::tie(total, seen) = summed_over_ranks(total, seen);
    metric = total / static_cast<double>(seen);
    RunConfig metadata = config;
    metadata["epoch"] = std::to_string(epoch + 1);
    if (lead) io::save_checkpoint(o.checkpoint, {params, whole_state, metadata});
    nlohmann::json fields = {{"examples_per_second", speed},
                             {metric_name, metric},
                             {"first_step_seconds", progress.first_step_seconds()},
                             {"seconds", seconds_since(start)}};
    allreduce_times.log_into(fields);
    log_line("epoch", epoch, (epoch + 1) * steps_per_epoch, progress.mean_loss(), std::move(fields));
    if (speak)
      fmt::print("epoch {}/{}: test {} {:.4f}, mean loss {:.4f}, {:.0f} ex/s  ({:.1f} s so far, checkpoint {})\n",
                 epoch + 1, o.epochs, classify ? "accuracy" : "reconstruction mse", metric, progress.mean_loss(), speed,
                 seconds_since(start), o.checkpoint);
    if (o.stop_after > 0 && epoch + 1 == o.stop_after) {
      if (lead) fmt::print("stopping after epoch {} as asked (--stop-after)\n", epoch + 1);
      return metric;
    }
  }
  if (speak)
    fmt::print("final test {}: {:.4f}  ({:.1f} s in all; the first step, with tracing and compiling, took {:.1f} s)\n",
               classify ? "accuracy" : "reconstruction mse", metric, seconds_since(start), progress.first_step_seconds());
  return metric;
}

}  // namespace zephyr::cli
