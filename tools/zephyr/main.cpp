// zephyr: list models, show their parameters, dump their IR at every stage of the pipeline.
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdio>
#include <dlfcn.h>
#include <optional>
#include <string_view>
#include <vector>

#include <zephyr/distributed.h>
#include <zephyr/io/atomic_file.h>
#include <zephyr/registry.h>
#include <zephyr/zephyr.h>

#include "bench.h"
#include "graphviz.h"
#include "lm_step.h"
#include "models.h"
#include "plot.h"
#include "run.h"
#include "shape_flag.h"
#include "weights.h"
#include "train.h"

namespace z = zephyr;


namespace {

// "rank 1 of 2: " in a job of several ranks, whose errors would otherwise be indistinguishable.
std::string rank_prefix() {
  const int n = zephyr::distributed::size();
  return n > 1 ? fmt::format("rank {} of {}: ", zephyr::distributed::rank(), n) : "";
}

void list_models() {
  for (const auto& m : z::model_registry()) fmt::print("{:<18} {}\n", m.name, m.signature);
}


// The registered model, with its example inputs resized by --input-shape (if given).
z::RegisteredModel resolve_model(const std::string& name, const std::vector<std::string>& input_shapes) {
  const z::RegisteredModel& model = z::find_registered_model(name);
  if (input_shapes.empty()) return model;
  std::vector<z::Shape> shapes;
  for (const std::string& s : input_shapes) shapes.push_back(z::cli::parse_shape(s));
  return model.with_input_shapes(shapes);
}

// --plugin: a shared library whose ZEPHYR_MODEL lines register models when it is loaded. It is
// built against the headers only; the zephyr symbols it needs come from this executable.
void load_plugin(const std::string& path) {
  size_t before = z::model_registry().size();
  // A path without a slash would be searched for on the library path: read it as a file instead.
  std::string file = path.find('/') == std::string::npos ? "./" + path : path;
  if (dlopen(file.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr)
    throw z::Error(fmt::format("cannot load plugin '{}': {}", path, dlerror()));
  if (z::model_registry().size() == before)
    throw z::Error(fmt::format("plugin '{}' registered no models (does it use ZEPHYR_MODEL?)", path));
}

std::vector<std::string> input_shapes;  // --input-shape, shared by the commands that take it

// The graph a command works on: the forward function, its gradient, or a whole training step.
z::Function model_graph(const std::string& name, bool grad, bool train_step, z::ParamTree* weights_like = nullptr) {
  if (grad && train_step) throw z::Error("choose one of --grad and --train-step");
  const z::RegisteredModel model = resolve_model(name, input_shapes);
  z::ParamTree params = model.trace(z::random::key(0));
  if (weights_like) *weights_like = params;
  // `--train-step` graphs step with Adam at 1e-3, as the flags' help says.
  return grad ? model.grad(params) : train_step ? model.train_step(params, z::optim::adam(1e-3)) : model.forward(params);
}

void show_params(const std::string& name, uint64_t seed, bool json) {
  z::ParamTree params = resolve_model(name, input_shapes).trace(z::random::key(seed));
  if (!json) {
    fmt::print("{}\n", params);
    return;
  }
  fmt::print("{{\"model\": \"{}\", \"seed\": {}, \"count\": {}, \"leaves\": [", name, seed, params.count());
  const char* sep = "";
  for (const auto& [path, a] : params) {
    fmt::print("{}\n  {{\"path\": \"{}\", \"dtype\": \"{}\", \"shape\": [{}], \"count\": {}}}", sep, path,
               z::name(a.dtype()), fmt::join(a.shape(), ", "), a.size());
    sep = ",";
  }
  fmt::print("\n]}}\n");
}

// The stages `zephyr ir --stage` takes: the compiler's, and `grad` (our graph after autodiff).
std::vector<std::string> ir_stages() {
  std::vector<std::string> names;
  for (auto s = z::compiler::Stage::graph; s <= z::compiler::Stage::assembly;
       s = static_cast<z::compiler::Stage>(static_cast<int>(s) + 1)) {
    names.push_back(z::compiler::stage_name(s));
    if (s == z::compiler::Stage::graph) names.push_back("grad");
  }
  return names;
}

// The first word on the command line that is neither an option of zephyr's own nor a
// subcommand, if it comes before any subcommand: `zephyr bogus` should name `bogus`.
std::optional<std::string> unknown_subcommand(const CLI::App& app, int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view word = argv[i];
    if (word == "--plugin") {
      ++i;  // its value
      continue;
    }
    if (word.starts_with("-")) continue;
    for (const CLI::App* sub : app.get_subcommands({}))
      if (sub->check_name(std::string(word))) return std::nullopt;
    return std::string(word);
  }
  return std::nullopt;
}

void dump_ir(const std::string& name, std::string stage, bool grad, bool train_step, const std::string& format,
             const z::compiler::Options& options) {
  if (stage == "grad") {  // our graph after autodiff: the gradient function, before any lowering
    if (train_step) throw z::Error("--stage grad shows the gradient graph; it does not combine with --train-step");
    stage = "graph";
    grad = true;
  }
  if (format != "text" && stage != "graph")
    throw z::Error(fmt::format("--format {} draws our graph: give --stage graph or grad (the {} stage is text)", format,
                               stage));
  z::Function fn = model_graph(name, grad, train_step);
  if (format == "dot") return fmt::print("{}", z::graph_dot(fn));
  if (format == "svg") return fmt::print("{}", z::cli::render_svg(z::graph_dot(fn)));
  fmt::print("{}", z::compiler::lower_to(fn, z::compiler::parse_stage(stage), options));
}

void compile_model(const std::string& name, const std::string& object, const std::string& header,
                   std::string symbol, const std::string& weights, bool grad, bool train_step,
                   const z::compiler::Options& options) {
  z::ParamTree params;
  z::Function fn = model_graph(name, grad, train_step, &params);
  if (!weights.empty()) fn = z::bind_constants(fn, z::cli::load_weights(weights, params).leaves());
  fn.name = symbol.empty() ? "zephyr_" + name : symbol;
  // Both files are written in full before either replaces its old version: a failure (an
  // unwritable header, say) leaves the object that was there.
  z::io::AtomicFile object_file(object);
  std::optional<z::io::AtomicFile> header_file;
  if (!header.empty()) {
    header_file.emplace(header);
    std::vector<std::string> parameter_paths;
    for (const auto& [path, leaf] : params) parameter_paths.push_back(path);
    header_file->write(z::compiler::c_header(fn, parameter_paths));
  }
  object_file.write(z::compiler::object_file(fn, options));
  if (header_file) header_file->commit();
  object_file.commit();
  fmt::print("wrote {}{}{}: void {}(...)\n", object, header.empty() ? "" : " and ", header, fn.name);
}

}  // namespace

int main(int argc, char** argv) {
  z::cli::register_builtin_models();
  CLI::App app{"zephyr: neural networks as plain C++ functions, compiled through MLIR"};
  app.name("zephyr");  // for the help of a bare `zephyr`, printed before argv is parsed
  app.require_subcommand(1);
  app.fallthrough();  // --plugin also after the subcommand: `zephyr ir my_model --plugin lib.so`
  app.add_option("--plugin", "Load models from a shared library (built with ZEPHYR_MODEL lines)")
      ->each(load_plugin)
      ->type_name("LIB.so");

  app.add_subcommand("models", "List the registered models with their signatures")->callback(list_models);

  std::string model;
  uint64_t seed = 0;
  bool json = false;
  auto* params = app.add_subcommand("params", "Trace a model and list its parameters");
  params->add_option("model", model, "Model name (see `zephyr models`)")->required();
  params->add_option("--seed", seed, "Root PRNG seed")->capture_default_str();
  params->add_flag("--json", json, "Machine-readable output");
  params->add_option("--input-shape", input_shapes, "Example input shape, one per input in order (e.g. 1,784)");
  params->callback([&] { show_params(model, seed, json); });

  std::string stage = "mlir";
  std::string format = "text";
  z::compiler::Options options;
  auto* ir = app.add_subcommand("ir", "Print a model's IR at one stage of the pipeline");
  ir->add_option("model", model, "Model name (see `zephyr models`)")->required();
  const std::vector<std::string> stages = ir_stages();
  ir->add_option("--stage", stage,
                 fmt::format("{} (grad: the gradient's graph; kernels: the schedule and each distinct kernel)",
                             fmt::join(stages, "|")))
      ->check([stages](const std::string& value) {
        return std::find(stages.begin(), stages.end(), value) != stages.end()
                   ? std::string()
                   : fmt::format("unknown stage '{}' (valid: {})", value, fmt::join(stages, ", "));
      })
      ->capture_default_str();
  ir->add_flag("!--whole-graph", options.kernels, "One function for the whole graph instead of kernels and a schedule");
  ir->add_flag("--locations", options.locations, "Print each op's source location (the model's file:line)");
  ir->add_flag("--print-after-all", options.print_after_all, "Print the IR after every pass (to stderr)");
  ir->add_flag("!--no-vectorize", options.vectorize, "Lower contractions as scalar loops (to compare)");
  bool grad = false, train_step = false;
  ir->add_flag("--grad", grad, "The gradient function: (params, inputs) -> (loss, grads)");
  ir->add_flag("--train-step", train_step, "A whole Adam training step: (params, state, inputs) -> (params, state, loss)");
  ir->add_option("--threads", options.threads, "Split large matmuls over N OpenMP threads (default 1 in dumps)");
  ir->add_option("--input-shape", input_shapes, "Example input shape, one per input in order (e.g. 1,784)");
  ir->add_option("--format", format, "text, or (with --stage graph/grad) Graphviz dot, or svg rendered by dot")
      ->check(CLI::IsMember({"text", "dot", "svg"}))
      ->capture_default_str();
  ir->callback([&] { dump_ir(model, stage, grad, train_step, format, options); });

  std::string object, header, symbol, weights;
  auto* compile = app.add_subcommand("compile", "Compile a model ahead of time: an object file and a C header");
  compile->add_option("model", model, "Model name (see `zephyr models`)")->required();
  compile->add_option("-o,--output", object, "Object file to write")->required();
  compile->add_option("--header", header, "C header to write");
  compile->add_option("--name", symbol, "Entry point symbol (default zephyr_MODEL)");
  compile->add_option("--weights", weights, "Embed these trained weights (params file or zephyr train checkpoint)");
  compile->add_flag("--grad", grad, "Compile the gradient function");
  compile->add_flag("--train-step", train_step, "Compile a whole Adam training step");
  compile->add_option("--input-shape", input_shapes, "Input shape to compile for, one per input in order (e.g. 1,784)");
  compile->add_flag("!--whole-graph", options.kernels, "One function for the whole graph instead of kernels and a schedule");
  compile->callback([&] { compile_model(model, object, header, symbol, weights, grad, train_step, options); });

  z::cli::RunOptions run_options;
  auto* run = app.add_subcommand("run", "Run a model's compiled function on arrays from safetensors files");
  run->add_option("model", run_options.model, "Model name (see `zephyr models`)")->required();
  run->add_option("--params", run_options.params, "Params file or zephyr train checkpoint")->required();
  run->add_option("--inputs", run_options.inputs, "Inputs, one tensor per model input, by name")->required();
  run->add_option("-o,--output", run_options.output, "Results file")->required();
  run->add_flag("--grad", run_options.grad, "Write the loss and the gradient tree instead");
  run->callback([&] { z::cli::run(run_options); });

  z::cli::TrainOptions train_options;
  auto* train = app.add_subcommand("train", "Train on Fashion-MNIST (the main job)");
  train->add_option("--model", train_options.model,
                    "mlp, cnn, autoencoder, or a registered model (--plugin) mapping (batch, 784) images to 10 logits")
      ->capture_default_str();
  train->add_option("--epochs", train_options.epochs, "Epochs")->capture_default_str();
  train->add_option("--batch-size", train_options.batch_size, "Examples per step (default: 128, 64 for cnn)");
  train->add_option("--lr", train_options.learning_rate, "Peak learning rate")->capture_default_str();
  train->add_option("--optimizer", train_options.optimizer, "sgd, momentum (0.9), adam or adamw (weight decay 1e-4)")
      ->capture_default_str();
  train->add_option("--schedule", train_options.schedule,
                    "Learning rate over the run: constant, cosine (to 0) or warmup-cosine (5 % linear warm-up)")
      ->capture_default_str();
  train->add_option("--log", train_options.log, "Write metrics as JSON lines (see `zephyr plot`)");
  train->add_option("--log-every", train_options.log_every, "Steps per step line of --log")->capture_default_str();
  train->add_option("--seed", train_options.seed, "Root PRNG seed")->capture_default_str();
  train->add_option("--checkpoint", train_options.checkpoint, "Checkpoint file (default zephyr-MODEL.safetensors)");
  train->add_flag("--resume", train_options.resume, "Continue from the checkpoint, bit for bit");
  train->add_flag("--force", train_options.force, "With --resume: continue even if the checkpoint's run had other flags");
  train->add_option("--limit", train_options.limit, "Use only the first N training examples");
  train->add_option("--stop-after", train_options.stop_after, "Stop after this epoch (to test --resume)");
  train->add_option("--data", train_options.data_dir, "Directory of the gzipped IDX files")->capture_default_str();
  train->add_option("--threads", train_options.threads, "Threads (default: ZEPHYR_NUM_THREADS, else every core)");
  train->add_flag("--zero", train_options.zero,
                  "Under mpirun: each rank keeps and updates 1/N of the optimizer state (ZeRO stage 1); "
                  "checkpoints stay whole");
  train->add_flag("!--no-overlap", train_options.overlap,
                  "Under mpirun: average the gradients after the backward pass instead of during it");
  train->add_option("--bucket-kb", train_options.bucket_kb,
                    "Under mpirun: kilobytes of gradients per all-reduce started during the backward pass")
      ->capture_default_str();
  train->callback([&] { z::cli::train(train_options); });

  z::cli::BenchOptions bench_options;
  bench_options.torch_script = ZEPHYR_TORCH_BASELINE;
  bench_options.libtorch_baseline = ZEPHYR_LIBTORCH_BASELINE;
  auto* bench = app.add_subcommand("bench", "Time every performance goal against OpenBLAS, PyTorch, LibTorch or a budget");
  bench->add_option("--json", bench_options.json, "Also write the rows as JSON to this file");
  bench->add_flag("--quick", bench_options.quick, "Fewer repetitions; skip the 2048^3 matmul and the 5-epoch main job");
  bench->add_option("--only", bench_options.only, "Run only these groups: matmul, step, main, infer, memory, compile, distributed");
  bench->add_option("--skip", bench_options.skip, "Run every group but these");
  bench->add_option("--data", bench_options.data_dir, "Fashion-MNIST directory (main job, memory rows)")->capture_default_str();
  bench->add_option("--torch-script", bench_options.torch_script, "The PyTorch baseline script")->capture_default_str();
  bench->add_option("--libtorch", bench_options.libtorch_baseline, "The LibTorch baseline executable")->capture_default_str();
  bench->callback([&] { z::cli::bench(bench_options); });

  std::string metrics_log, plot_output;
  auto* plot = app.add_subcommand("plot", "Draw a `train --log` file's loss and accuracy curves as an SVG");
  plot->add_option("log", metrics_log, "Metrics log (JSON lines) written by `zephyr train --log`")->required();
  plot->add_option("-o,--output", plot_output, "SVG file to write")->required();
  plot->callback([&] {
    z::cli::plot(metrics_log, plot_output);
    fmt::print("wrote {}\n", plot_output);
  });

  z::cli::LmStepOptions lm_options;
  auto* lm = app.add_subcommand("lm-step", "Compile and time a transformer LM's training step (value_and_grad + Adam)");
  lm->add_option("--blocks", lm_options.blocks, "Transformer blocks")->capture_default_str();
  lm->add_option("--model-dim", lm_options.model_dim, "Model width")->capture_default_str();
  lm->add_option("--heads", lm_options.heads, "Attention heads")->capture_default_str();
  lm->add_option("--context", lm_options.context, "Tokens per sequence")->capture_default_str();
  lm->add_option("--batch", lm_options.batch, "Sequences per step")->capture_default_str();
  lm->add_option("--flash-block", lm_options.flash_block,
                 "Flash attention over key blocks of this size (0: plain attention, the (t, t) scores stored)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  lm->add_option("--steps", lm_options.steps, "Steps timed after the first")->capture_default_str();
  lm->add_option("--threads", lm_options.threads, "Threads (default: ZEPHYR_NUM_THREADS, else every core)");
  lm->add_flag("--json", lm_options.json, "Print one JSON object");
  lm->add_flag("--compile-only", lm_options.compile_only, "Trace and compile only: time and memory of the compile");
  lm->callback([&] { z::cli::lm_step(lm_options); });

  // Every failure is one line and exit code 1, whatever threw it: no abort, no core dump.
  try {
    if (argc == 1) {  // a bare `zephyr`: what it can do
      fmt::print(stderr, "zephyr: error: no subcommand given\n\n{}", app.help());
      return 1;
    }
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      if (e.get_exit_code() == 0) return app.exit(e);  // --help
      if (auto word = unknown_subcommand(app, argc, argv)) {
        std::vector<std::string> names;
        for (const CLI::App* sub : app.get_subcommands({})) names.push_back(sub->get_name());
        fmt::print(stderr, "zephyr: error: unknown subcommand '{}' (subcommands: {}; see --help)\n", *word,
                   fmt::join(names, ", "));
        return 1;
      }
      fmt::print(stderr, "zephyr: error: {} (see --help)\n", e.what());
      return 1;
    }
  } catch (const z::Error& e) {
    fmt::print(stderr, "zephyr: error: {}{}\n", rank_prefix(), e.what());
    return z::distributed::end_after_error(1);
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "zephyr: error: {}out of memory (a container of the tool's own could not grow; "
                       "try smaller shapes or batches)\n", rank_prefix());
    return z::distributed::end_after_error(1);
  } catch (const std::exception& e) {
    fmt::print(stderr, "zephyr: error: {}{}\n", rank_prefix(), e.what());
    return z::distributed::end_after_error(1);
  }
  return 0;
}
