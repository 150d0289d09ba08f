// Prints every tensor of a safetensors file as zephyr reads it: "name dtype [shape] v0 v1 ...",
// values to 17 digits. check_torch_checkpoint.py compares them with what PyTorch wrote.
#include <zephyr/io/safetensors.h>

#include <cstdio>

namespace z = zephyr;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s FILE.safetensors\n", argv[0]);
    return 2;
  }
  try {
    for (const auto& [name, a] : z::io::load_safetensors(argv[1])) {
      std::printf("%s %s %s", name.c_str(), z::name(a.dtype()), z::to_string(a.shape()).c_str());
      for (int64_t i = 0; i < a.size(); ++i) std::printf(" %.17g", a.at(i));
      std::printf("\n");
    }
  } catch (const z::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
