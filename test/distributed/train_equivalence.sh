#!/usr/bin/env bash
# `mpirun -np 2 zephyr train` against one process on the same global batches: 100 steps of the
# MLP main job (12800 examples, batch 128), then the two checkpoints compared leaf by leaf.
# Usage: train_equivalence.sh ZEPHYR MPIRUN PYTHON WORKDIR
set -euo pipefail
zephyr=$1 mpirun=$2 python=$3 work=$4
here=$(dirname "$0")
rm -rf "$work" && mkdir -p "$work"
common=(train --epochs 1 --limit 12800 --threads 1)
"$zephyr" "${common[@]}" --checkpoint "$work/one.safetensors" > "$work/one.log"
"$mpirun" -np 2 --oversubscribe --mca btl self,vader "$zephyr" "${common[@]}" --checkpoint "$work/two.safetensors" > "$work/two.log"
# Two ranks of one job, not two single-process runs writing the same file:
grep -q "64 per rank on 2 ranks" "$work/two.log" || { echo "mpirun did not start one job of 2 ranks:"; cat "$work/two.log"; exit 1; }
"$python" "$here/compare_checkpoints.py" "$work/one.safetensors" "$work/two.safetensors" --atol 1e-4
