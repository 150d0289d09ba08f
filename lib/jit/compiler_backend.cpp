// The jit backend: a traced Function compiled to native code. The one file of the jit layer, so
// that tracing, calling and interpreting (zephyr_core) link without the compiler.
#include "zephyr/jit.h"

namespace zephyr::detail {

Backend compiler_backend(const compiler::Options& options) {
  return [options](const Function& fn) { return compiler::compile(fn, options); };
}

}  // namespace zephyr::detail
