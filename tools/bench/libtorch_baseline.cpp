// LibTorch baselines for `zephyr bench`: torch_baseline.py's rows through the C++ API, so the ratios
// can be read without the Python interpreter's per-op overhead.
//
// Prints one JSON object {row name: median seconds, "openblas_kernel": name} with the rows,
// networks, data shapes and repetition counts of torch_baseline.py's default mode. Thread pools are pinned by the caller:
// OMP_NUM_THREADS is applied to ATen's pool here, OpenBLAS reads OPENBLAS_NUM_THREADS itself.
#include <dlfcn.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace {

// One warm-up call, then the median of `reps` timed calls.
double seconds(const std::function<void()>& f, int calls) {
  auto t = std::chrono::steady_clock::now();
  for (int i = 0; i < calls; ++i) f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count() / calls;
}

// As zephyr bench's measure(): calls shorter than 20 us are timed in batches lasting that long,
// so that the clock's own cost is not counted as the call's.
double median_seconds(const std::function<void()>& f, int reps) {
  f();
  const double once = std::min({seconds(f, 1), seconds(f, 1), seconds(f, 1)});
  const int batch = once >= 20e-6 ? 1 : static_cast<int>(std::ceil(20e-6 / std::max(once, 1e-9)));
  std::vector<double> times;
  for (int i = 0; i < reps; ++i) times.push_back(seconds(f, batch));
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

torch::nn::Sequential mlp(const std::vector<int64_t>& widths) {
  torch::nn::Sequential net;
  for (size_t i = 0; i + 1 < widths.size(); ++i) {
    net->push_back(torch::nn::Linear(widths[i], widths[i + 1]));
    if (i + 2 < widths.size()) net->push_back(torch::nn::ReLU());
  }
  return net;
}

// SGD without momentum and softmax cross-entropy, as the Python script's train_step. The optimizer
// is shared so it lives as long as the returned step.
std::function<void()> train_step(torch::nn::Sequential model, torch::Tensor x, torch::Tensor y) {
  auto opt = std::make_shared<torch::optim::SGD>(model->parameters(), torch::optim::SGDOptions(0.01));
  return [=]() mutable {  // mutable: forward() is non-const on the captured holder
    opt->zero_grad();
    torch::nn::functional::cross_entropy(model->forward(x), y).backward();
    opt->step();
  };
}

}  // namespace

int main() {
  // Debian's ATen uses OpenMP, which reads OMP_NUM_THREADS itself; setting it through ATen too keeps
  // the pin whatever parallel backend the library was built with.
  if (const char* n = std::getenv("OMP_NUM_THREADS")) at::set_num_threads(std::stoi(n));
  torch::manual_seed(0);
  at::globalContext().setFlushDenormal(true);  // as zephyr's compiled code runs (Options::flush_denormals)
  std::vector<std::pair<const char*, double>> rows;

  auto net = mlp({784, 512, 512, 10});
  rows.emplace_back("mlp_train_step",
                    median_seconds(train_step(net, torch::rand({128, 784}), torch::randint(0, 10, {128})), 50));
  {
    torch::NoGradGuard no_grad;
    auto x1 = torch::rand({1, 784});
    rows.emplace_back("mlp_infer_b1", median_seconds([&] { net->forward(x1); }, 200));
    auto tiny = mlp({64, 64, 64});
    auto t1 = torch::rand({1, 64});
    rows.emplace_back("tiny_mlp_b1", median_seconds([&] { tiny->forward(t1); }, 500));
  }
  namespace nn = torch::nn;
  nn::Sequential cnn(nn::Conv2d(nn::Conv2dOptions(1, 32, 3).padding(1)), nn::ReLU(), nn::MaxPool2d(2),
                     nn::Conv2d(nn::Conv2dOptions(32, 64, 3).padding(1)), nn::ReLU(), nn::MaxPool2d(2),
                     nn::Flatten(), nn::Linear(64 * 7 * 7, 10));
  rows.emplace_back("cnn_train_step",
                    median_seconds(train_step(cnn, torch::rand({64, 1, 28, 28}), torch::randint(0, 10, {64})), 20));

  // The keys are fixed identifiers, so the JSON needs no escaping; %.17g round-trips a double.
  std::printf("{");
  for (size_t i = 0; i < rows.size(); ++i) std::printf("%s\"%s\": %.17g", i ? ", " : "", rows[i].first, rows[i].second);
  // LibTorch's BLAS on Debian is OpenBLAS, already loaded: its kernel tells whether it ran at its best.
  if (auto corename = reinterpret_cast<const char* (*)()>(dlsym(RTLD_DEFAULT, "openblas_get_corename")))
    std::printf(", \"openblas_kernel\": \"%s\"", corename());
  std::printf("}\n");
}
