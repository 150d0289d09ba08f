#!/usr/bin/env bash
# `cmake --install`, then separate projects find zephyr: one compiles its model at build time with
# zephyr_add_model_library and runs the C application that links it; another builds a plugin
# against zephyr::headers, which the installed tool loads, and a shared library that links
# zephyr::zephyr.
# Usage: install_test.sh <build dir> <source dir> [<C++ compiler> <C compiler>]
# The consumer is built with zephyr's own compilers when given: a sanitized zephyr
# (ZEPHYR_SANITIZE) needs that compiler's sanitizer runtime at the consumer's link.
set -euo pipefail
build="$1"
source="$2"
compilers=()
if [ $# -ge 4 ]; then compilers=(-DCMAKE_CXX_COMPILER="$3" -DCMAKE_C_COMPILER="$4"); fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" > /dev/null
cmake -S "$source/docs/examples/cmake_consumer" -B "$work/consumer" -G Ninja \
      -Dzephyr_DIR="$work/prefix/lib/cmake/zephyr" "${compilers[@]}" > "$work/configure.log" || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/consumer" > "$work/build.log" || { cat "$work/build.log"; exit 1; }
"$work/consumer/app"
if ldd "$work/consumer/app" | grep -E 'MLIR|LLVM|zephyr'; then echo "the app links the compiler"; exit 1; fi

# The installed tool starts (its RUNPATH finds libMLIR) and loads a plugin built against it.
tool="$work/prefix/bin/zephyr"
"$tool" models > "$work/models.txt" || { echo "the installed tool does not start"; exit 1; }
cmake -S "$source/docs/examples/plugin_consumer" -B "$work/plugin" -G Ninja \
      -Dzephyr_DIR="$work/prefix/lib/cmake/zephyr" "${compilers[@]}" > "$work/configure.log" || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/plugin" > "$work/build.log" || { cat "$work/build.log"; exit 1; }
models=$("$tool" --plugin "$work/plugin/libmy_plugin.so" models)
grep -q "^plugin_classifier " <<<"$models" || { echo "the installed tool did not load the plugin: $models"; exit 1; }
"$work/plugin/use_library"
echo "3 passed, 0 failed"
