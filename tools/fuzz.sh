#!/usr/bin/env bash
# Runs each libFuzzer target for SECONDS (default 600) from its seed corpus, and prints the
# executions it reached. New inputs go to BUILD/fuzz/<target>/, findings (crash-*, leak-*,
# timeout-*) there too: copy a finding into test/fuzz/corpus/<target>/ once it is fixed, and the
# suite replays it on every run. Needs the build configured with libclang-rt-19-dev installed.
# Usage: tools/fuzz.sh [SECONDS] [BUILD_DIR] [TARGET...]
set -euo pipefail
seconds="${1:-600}"
build="${2:-build}"
shift $(( $# > 2 ? 2 : $# ))
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(safetensors idx input_shape checkpoint_metadata)
source_dir="$(cd "$(dirname "$0")/.." && pwd)"
status=0
for target in "${targets[@]}"; do
  binary="$build/bin/fuzz_$target"
  [ -x "$binary" ] || { echo "$binary is missing (is libclang-rt-19-dev installed?)"; exit 1; }
  found="$build/fuzz/$target"
  mkdir -p "$found"
  log="$found/last-run.log"
  if "$binary" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
       -artifact_prefix="$found/" "$found" "$source_dir/test/fuzz/corpus/$target" > "$log" 2>&1; then
    echo "$target: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') executions in ${seconds} s, no finding"
  else
    echo "$target: FINDING, see $log"; status=1
  fi
done
exit $status
