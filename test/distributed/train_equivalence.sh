#!/usr/bin/env bash
# `mpirun -np 2 zephyr train` against one process on the same global batches: 100 steps of the
# MLP main job (12800 examples, batch 128), then the two checkpoints compared leaf by leaf.
# Usage: train_equivalence.sh ZEPHYR MPIRUN PYTHON WORKDIR
set -euo pipefail
source "$(dirname "$0")/ranks.sh" "$@"
common=(train --epochs 1 --limit 12800 --threads 1)
"$zephyr" "${common[@]}" --checkpoint "$work/one.safetensors" > "$work/one.log"
two_ranks "$work/two.log" "${common[@]}" --checkpoint "$work/two.safetensors"
expect_two_ranks "$work/two.log"
"$python" "$here/compare_checkpoints.py" "$work/one.safetensors" "$work/two.safetensors" --atol 1e-4
