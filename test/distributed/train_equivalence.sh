#!/usr/bin/env bash
# `mpirun -np 2 zephyr train` against one process on the same global batches: 30 steps of the
# MLP main job (3840 examples, batch 128), then the checkpoints compared leaf by leaf. Not more:
# the sums differ in their last bits, and once a ReLU input near 0 lands on the other side in one
# run, Adam (which divides by the gradient's own scale) carries the difference on. Measured on the
# same checkpoints: 30 steps 1.2e-6 apart; 100 steps 7.6e-6 or 1.4e-3 (with or without relu's
# gradient written from its output); 150 steps 2.3e-2 either way. Three times
# on two ranks: the gradients averaged during the backward pass (in 64 KB buckets, so that several
# start inside it), after it (--no-overlap), and with the optimizer state sliced (--zero, ZeRO-1).
# Usage: train_equivalence.sh ZEPHYR MPIRUN PYTHON WORKDIR
set -euo pipefail
source "$(dirname "$0")/ranks.sh" "$@"
common=(train --epochs 1 --limit 3840 --threads 1)
"$zephyr" "${common[@]}" --checkpoint "$work/one.safetensors" > "$work/one.log"
two_ranks "$work/two.log" "${common[@]}" --bucket-kb 64 --checkpoint "$work/two.safetensors"
expect_two_ranks "$work/two.log"
"$python" "$here/compare_checkpoints.py" "$work/one.safetensors" "$work/two.safetensors" --atol 1e-4
two_ranks "$work/after.log" "${common[@]}" --no-overlap --checkpoint "$work/after.safetensors"
expect_two_ranks "$work/after.log"
# The same sums in the same order, only started at other times: the same bits.
"$python" "$here/compare_checkpoints.py" "$work/two.safetensors" "$work/after.safetensors" --atol 0
two_ranks "$work/zero.log" "${common[@]}" --zero --checkpoint "$work/zero.safetensors"
expect_two_ranks "$work/zero.log"
grep -q "optimizer state sliced over 2 ranks (--zero): 2.68 MB per rank instead of 5.36 MB" "$work/zero.log" ||
  { echo "no sliced optimizer state:"; cat "$work/zero.log"; exit 1; }
"$python" "$here/compare_checkpoints.py" "$work/one.safetensors" "$work/zero.safetensors" --atol 1e-4
