#!/usr/bin/env bash
# --resume with another number of ranks: epoch 1 on 2 ranks with the optimizer state sliced over
# them (--zero: the checkpoint gathers it whole), epoch 2 resumed on 1, against both epochs on 1
# process (6400 examples, batch 128). The checkpoints agree but for summation order.
# Usage: resume_other_ranks.sh ZEPHYR MPIRUN PYTHON WORKDIR
set -euo pipefail
source "$(dirname "$0")/ranks.sh" "$@"
common=(train --epochs 2 --limit 6400 --threads 1)
"$zephyr" "${common[@]}" --checkpoint "$work/one.safetensors" > "$work/one.log"
two_ranks "$work/two.log" "${common[@]}" --zero --stop-after 1 --checkpoint "$work/mixed.safetensors"
expect_two_ranks "$work/two.log"
"$zephyr" "${common[@]}" --resume --checkpoint "$work/mixed.safetensors" > "$work/resumed.log"
grep -q "resumed from .* after epoch 1" "$work/resumed.log" || { echo "did not resume after epoch 1:"; cat "$work/resumed.log"; exit 1; }
"$python" "$here/compare_checkpoints.py" "$work/one.safetensors" "$work/mixed.safetensors" --atol 1e-4
