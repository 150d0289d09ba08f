#!/usr/bin/env bash
# Builds everything under sanitizers and runs the test suite there.
#   tools/sanitize.sh asan [ctest args...]   AddressSanitizer + UBSan, the whole suite (build-asan/)
#   tools/sanitize.sh tsan [ctest args...]   ThreadSanitizer, the concurrency tests (build-tsan/)
# The JIT's generated code and LLVM/MLIR are not instrumented; zephyr's own code, the tool, the
# tests and the examples are. Needs libclang-rt-19-dev (tools/setup.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:?usage: tools/sanitize.sh asan|tsan [ctest args...]}"
shift
case "$preset" in
  asan)
    # Leaks are reported at exit: the process-lifetime compile caches are reachable from globals.
    # allocator_may_return_null: an allocation too large must fail as malloc does (zephyr reports it
    # as an error naming the shape), not abort.
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:allocator_may_return_null=1:strict_string_checks=1:detect_stack_use_after_return=1"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
    # Not the tests that start ranks with mpirun: Open MPI's runtime is not instrumented and hooks
    # the allocator itself (its memory patcher), so what ASan would check there is Open MPI's. They
    # run in the main suite; distributed.one_rank (no MPI) runs here.
    default_tests=(-E "distributed\\.(two_ranks|train_)")
    ;;
  tsan)
    # libomp is not instrumented: its own synchronization would read as races (its advice).
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:ignore_noninstrumented_modules=1"
    default_tests=(-R "hardening: eight threads")
    ;;
  *) echo "tools/sanitize.sh: unknown preset '$preset' (asan or tsan)" >&2; exit 2 ;;
esac
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
if [ $# -eq 0 ]; then set -- "${default_tests[@]}"; fi
ctest --preset "$preset" "$@"
