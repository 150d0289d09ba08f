// The model: y = tanh(x @ W + b), registered for the generator.
#include <zephyr/registry.h>
#include <zephyr/zephyr.h>

namespace z = zephyr;

z::Tensor tiny(z::Params p, z::Tensor x) { return z::tanh(z::nets::linear(p, x, 3)); }

ZEPHYR_MODEL(tiny, tiny, z::spec({2, 4}));
