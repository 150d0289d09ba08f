// A user's own model in the zephyr tool: one ZEPHYR_MODEL line, linked with zephyr::cli
// (which provides main). The program then lists, traces, dumps and compiles this model:
//   my_models models | my_models params wide_mlp | my_models ir wide_mlp --stage linalg
#include <zephyr/registry.h>
#include <zephyr/zephyr.h>

namespace z = zephyr;

z::Tensor wide_mlp(z::Params p, z::Tensor x, int width) {
  return z::nets::mlp(p["body"], x, {width, width, 3}, {.activation = z::gelu});
}

ZEPHYR_MODEL(wide_mlp, wide_mlp, z::spec({4, 16}), 32);
