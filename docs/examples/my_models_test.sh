#!/usr/bin/env bash
# my_models is the zephyr tool plus one user model: it lists it, traces it, dumps its IR.
# (Outputs are captured first: `cmd | grep -q` under pipefail fails when grep exits early.)
set -euo pipefail
tool="$1"
models=$("$tool" models)
grep -q 'wide_mlp *wide_mlp(params, x: f32\[4, 16\], 32)' <<< "$models"
grep -q '^mlp ' <<< "$models"  # the built-ins are still there
grep -q 'body/2/weights *f32\[32, 3\]' <<< "$("$tool" params wide_mlp)"
grep -q 'vector.fma' <<< "$("$tool" ir wide_mlp --stage linalg)"
echo "1 passed, 0 failed"
