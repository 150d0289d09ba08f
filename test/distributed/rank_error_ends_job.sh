#!/usr/bin/env bash
# An error on one rank ends the whole job, named by rank, instead of leaving the other ranks
# waiting forever in a collective: rank 0 alone finds the checkpoint unwritable while rank 1
# starts training and waits in the first all-reduce.
# Usage: rank_error_ends_job.sh ZEPHYR MPIRUN PYTHON WORKDIR
set -uo pipefail
source "$(dirname "$0")/ranks.sh" "$@"
timeout 120 "$mpirun" -np 2 --oversubscribe --mca btl self,vader "$zephyr" train --epochs 1 --limit 1280 \
  --threads 1 --checkpoint "$work/missing-dir/x.safetensors" > "$work/out.log" 2>&1
code=$?
if [ $code -eq 0 ] || [ $code -eq 124 ]; then
  echo "expected the job to fail promptly, got exit code $code (124: timed out)"; cat "$work/out.log"; exit 1
fi
grep -q "zephyr: error: rank 0 of 2: " "$work/out.log" || { echo "no error naming rank 0:"; cat "$work/out.log"; exit 1; }
echo "the job ended with exit code $code, the error naming rank 0"
