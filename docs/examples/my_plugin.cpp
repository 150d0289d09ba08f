// A model in a plugin: built as a shared library against zephyr's headers only, and loaded by
// the stock tool with `zephyr --plugin ./libmy_plugin.so models` (or params, ir, compile...).
#include <zephyr/registry.h>
#include <zephyr/zephyr.h>

namespace z = zephyr;

z::Tensor tiny_classifier(z::Params p, z::Tensor x, int hidden) {
  return z::nets::mlp(p, x, {hidden, 10}, {.activation = z::gelu});
}

ZEPHYR_MODEL(plugin_classifier, tiny_classifier, z::spec({4, 32}), 16);
