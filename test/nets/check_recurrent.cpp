// Runs nets::lstm or nets::gru on a fixture PyTorch wrote (recurrent_vs_torch.py): the weights
// under "params/" in zephyr's layout, the inputs "xs" and torch's outputs "expected". Prints the
// largest difference and fails above 1e-5.
#include <fmt/format.h>
#include <zephyr/zephyr.h>

#include <cmath>
#include <string>

namespace z = zephyr;

int main(int argc, char** argv) try {
  if (argc != 3) {
    fmt::print(stderr, "usage: check_recurrent FIXTURE lstm|gru\n");
    return 2;
  }
  const std::string path = argv[1], layer = argv[2];
  z::Array xs, expected;
  for (const auto& [name, a] : z::io::load_safetensors(path)) {
    if (name == "xs") xs = a;
    if (name == "expected") expected = a;
  }
  if (!xs.defined() || !expected.defined()) throw z::Error("the fixture has no xs or expected");
  const int64_t hidden = expected.shape(-1);
  auto net = [layer, hidden](z::Params p, z::Tensor x) {
    return layer == "lstm" ? z::nets::lstm(p, x, hidden) : z::nets::gru(p, x, hidden);
  };
  const z::ParamTree like = z::trace(net, z::random::key(0), xs);
  const z::ParamTree params = z::io::load(path, like, {.prefix = "params/"});
  for (const auto& [name, got] : {std::pair{"compiled", z::jit(net)(params, xs)},
                                  std::pair{"interpreted", z::interpret(net)(params, xs)}}) {
    if (got.shape() != expected.shape())
      throw z::Error(fmt::format("{}: shape {} vs torch's {}", name, z::to_string(got.shape()),
                                 z::to_string(expected.shape())));
    double worst = 0;
    for (int64_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got.at(i) - expected.at(i)));
    fmt::print("{} {}: largest difference from torch {:.3g} over {} values\n", layer, name, worst, got.size());
    if (!(worst <= 1e-5)) return 1;
  }
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "check_recurrent: {}\n", e.what());
  return 1;
}
