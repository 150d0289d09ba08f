#!/usr/bin/env bash
# The main job, short: the loss falls and the model learns; --resume continues bit for bit.
# Usage: train_test.sh path/to/zephyr
set -euo pipefail
zephyr="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
common=(--epochs 2 --limit 6400 --batch-size 64 --seed 3)

"$zephyr" train "${common[@]}" --checkpoint "$work/straight.safetensors" | tee "$work/log"

# The loss at the end of the first quarter of epoch 1 is above the loss at the end of epoch 2.
first=$(grep -o 'loss [0-9.]*' "$work/log" | head -1 | cut -d' ' -f2)
last=$(grep -o 'loss [0-9.]*' "$work/log" | tail -1 | cut -d' ' -f2)
accuracy=$(grep -o 'final test accuracy: [0-9.]*' "$work/log" | cut -d' ' -f4)
echo "first loss $first, last loss $last, test accuracy $accuracy"
python3 -c "import sys; f, l, a = map(float, sys.argv[1:]); sys.exit(0 if l < f and a > 0.70 else 1)" \
  "$first" "$last" "$accuracy" || { echo "FAIL: the loss did not fall, or accuracy <= 0.70"; exit 1; }

# Interrupted after epoch 1, then resumed: the same bytes as the uninterrupted run.
"$zephyr" train "${common[@]}" --checkpoint "$work/resumed.safetensors" --stop-after 1 > /dev/null
"$zephyr" train "${common[@]}" --checkpoint "$work/resumed.safetensors" --resume > /dev/null
cmp "$work/straight.safetensors" "$work/resumed.safetensors" || { echo "FAIL: resumed run differs"; exit 1; }
echo "resume: checkpoints are identical"

# A missing checkpoint is a clear error, not a crash.
if "$zephyr" train "${common[@]}" --checkpoint "$work/none.safetensors" --resume 2> "$work/err"; then
  echo "FAIL: resuming from a missing checkpoint succeeded"; exit 1
fi
grep -q "none.safetensors" "$work/err" || { echo "FAIL: the error does not name the file"; cat "$work/err"; exit 1; }
echo "1 passed, 0 failed"
