// Writes a safetensors file of known tensors (values from simple formulas) for
// check_safetensors.py, which reads it with numpy alone: an independent check of the format,
// and of zephyr's compiled casts to f16, i64, u8 and i8 against numpy's astype.
#include <zephyr/io/safetensors.h>
#include <zephyr/zephyr.h>

#include <cstdio>
#include <vector>

namespace z = zephyr;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT.safetensors\n", argv[0]);
    return 2;
  }
  std::vector<float> w(6);
  for (int i = 0; i < 6; ++i) w[i] = 0.5f * static_cast<float>(i) - 1.0f;  // [2, 3]
  std::vector<double> b(3);
  for (int i = 0; i < 3; ++i) b[i] = 1.0 / (i + 1);  // [3]
  std::vector<int32_t> steps(4);
  for (int i = 0; i < 4; ++i) steps[i] = (i - 2) * 1000003;  // [2, 2], negative values too
  bool mask[5];
  for (int i = 0; i < 5; ++i) mask[i] = i % 2 == 0;  // [5]
  // Compiled casts: numpy computes the same conversions from the same sources.
  auto to = [](z::DType d) { return z::jit([d](z::Tensor x) { return z::cast(x, d); }); };
  const z::Array floats = z::Array::from<float>({6}, {0.1f, 1.0f / 3, 65504.0f, -2.5f, 1e-5f, 70000.0f});
  const z::Array bytes = z::Array::from<float>({5}, {0.0f, 1.5f, 254.9f, 255.0f, 100.2f});
  const z::Array ints = z::Array::from<int32_t>({5}, std::vector<int32_t>{-200, -128, 127, 200, 5});
  auto widened = z::jit([](z::Tensor x) { return z::cast(x, z::DType::i64) * z::scalar(1000003, z::DType::i64); });
  try {
    z::io::save_safetensors(argv[1],
                            {{"layer/w", z::Array::from<float>({2, 3}, w)},
                             {"layer/b", z::Array::from<double>({3}, b)},
                             {"steps", z::Array::from<int32_t>({2, 2}, steps)},
                             {"mask", z::Array::from<bool>({5}, std::span<const bool>(mask))},
                             {"scale", z::Array::scalar(2.5f)},
                             {"half", to(z::DType::f16)(floats)},
                             {"big", widened(z::Array::from<int32_t>({2, 2}, steps))},
                             {"pixels", to(z::DType::u8)(bytes)},
                             {"small", to(z::DType::i8)(ints)}},
                            {{"producer", "zephyr"}, {"epoch", "7"}});
  } catch (const z::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
