#!/usr/bin/env bash
# Installs everything zephyr needs to build, test, benchmark and run, from Debian 12's packages.
# Run as root (or through sudo). Safe to run again: apt-get skips what is installed.
# The build itself needs only the first two groups and the data set; CMake skips the optional
# parts (sanitizer tests, LibTorch and PyTorch baselines) with one line each when they are missing.
set -euo pipefail

packages=(
  # compiler toolchain and MLIR 19
  cmake ninja-build ccache clang-19 lld-19 llvm-19-dev llvm-19-tools libmlir-19-dev mlir-19-tools
  libomp-19-dev
  # libraries
  libfmt-dev doctest-dev libcli11-dev nlohmann-json3-dev zlib1g-dev
  # data-parallel training (zephyr::distributed): Open MPI, and mpirun for its tests
  libopenmpi-dev openmpi-bin
  # the main job's data, and `zephyr bench`'s baselines (OpenBLAS, PyTorch, LibTorch)
  dataset-fashion-mnist libopenblas-dev python3-torch libtorch-dev
  # independent checks in the tests (lit, FileCheck, numpy), and the sanitizer runtimes
  # (AddressSanitizer/UBSan, libFuzzer) for the tests of the file readers
  python3 python3-numpy libclang-rt-19-dev
  # `zephyr ir --format svg` (Graphviz's dot), and the test that renders `zephyr plot`'s SVG
  graphviz chromium
  # the API reference (`cmake --build build --target docs`) and its test for undocumented declarations
  doxygen
)

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
echo "setup: ${#packages[@]} packages present"
