#!/usr/bin/env bash
# my_models is the zephyr tool plus one user model: it lists it, traces it, dumps and runs its IR.
set -euo pipefail
tool="$1"
"$tool" models | grep -q 'wide_mlp *wide_mlp(params, x: f32\[4, 16\], 32)'
"$tool" models | grep -q '^mlp '  # the built-ins are still there
"$tool" params wide_mlp | grep -q 'body/2/weights *f32\[32, 3\]'
"$tool" ir wide_mlp --stage linalg | grep -q 'vector.fma'
echo "1 passed, 0 failed"
