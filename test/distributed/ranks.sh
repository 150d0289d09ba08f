# Sourced by the distributed train tests: the arguments every one takes, and two ranks of one job.
# Usage in a test: source "$(dirname "$0")/ranks.sh" "$@"   (ZEPHYR MPIRUN PYTHON WORKDIR)
zephyr=$1 mpirun=$2 python=$3 work=$4
here=$(dirname "${BASH_SOURCE[0]}")
rm -rf "$work" && mkdir -p "$work"

# `two_ranks LOG ARGS...`: zephyr ARGS on two ranks over shared memory, output to LOG.
two_ranks() {
  local log=$1
  shift
  "$mpirun" -np 2 --oversubscribe --mca btl self,vader "$zephyr" "$@" > "$log" 2>&1
}

# Fails unless LOG is from one job of two ranks, not two single-process runs.
expect_two_ranks() {
  grep -q "per rank on 2 ranks" "$1" || { echo "mpirun did not start one job of 2 ranks:"; cat "$1"; exit 1; }
}
