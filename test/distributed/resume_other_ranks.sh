#!/usr/bin/env bash
# --resume with another number of ranks: epoch 1 on 2 ranks, epoch 2 resumed on 1, against both
# epochs on 1 process (6400 examples, batch 128). The checkpoints agree but for summation order.
# Usage: resume_other_ranks.sh ZEPHYR MPIRUN PYTHON WORKDIR
set -euo pipefail
zephyr=$1 mpirun=$2 python=$3 work=$4
here=$(dirname "$0")
rm -rf "$work" && mkdir -p "$work"
common=(train --epochs 2 --limit 6400 --threads 1)
"$zephyr" "${common[@]}" --checkpoint "$work/one.safetensors" > "$work/one.log"
"$mpirun" -np 2 --oversubscribe --mca btl self,vader "$zephyr" "${common[@]}" --stop-after 1 \
  --checkpoint "$work/mixed.safetensors" > "$work/two.log"
grep -q "64 per rank on 2 ranks" "$work/two.log" || { echo "mpirun did not start one job of 2 ranks:"; cat "$work/two.log"; exit 1; }
"$zephyr" "${common[@]}" --resume --checkpoint "$work/mixed.safetensors" > "$work/resumed.log"
grep -q "resumed from .* after epoch 1" "$work/resumed.log" || { echo "did not resume after epoch 1:"; cat "$work/resumed.log"; exit 1; }
"$python" "$here/compare_checkpoints.py" "$work/one.safetensors" "$work/mixed.safetensors" --atol 1e-4
