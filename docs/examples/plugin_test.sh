#!/bin/bash
# zephyr --plugin: the stock tool lists, traces and compiles a model from a shared library, and
# rejects libraries it cannot load or that register nothing, with one-line errors.
set -euo pipefail
zephyr="$1" plugin="$2" empty="$3"
models=$("$zephyr" --plugin "$plugin" models)
grep -q "^plugin_classifier .*plugin_classifier(params, x: f32\[4, 32\], 16)" <<<"$models"
params=$("$zephyr" --plugin "$plugin" params plugin_classifier)
grep -q "0/weights *f32\[32, 16\]" <<<"$params"
grep -q "1/weights *f32\[16, 10\]" <<<"$params"
ir=$("$zephyr" --plugin "$plugin" ir plugin_classifier --stage mlir)  # captured: grep -q in a pipe races
grep -q "linalg.matmul" <<<"$ir"
after=$("$zephyr" params plugin_classifier --plugin "$plugin")  # --plugin after the subcommand too
grep -q "0/weights *f32\[32, 16\]" <<<"$after"
# `train --model` trains a plugin's classifier on Fashion-MNIST (its input width comes from the data).
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
trained=$("$zephyr" --plugin "$plugin" train --model plugin_classifier --epochs 1 --limit 6400 --batch-size 64 \
          --lr 3e-3 --threads 1 --checkpoint "$work/plugin.safetensors")
accuracy=$(grep -o 'final test accuracy: [0-9.]*' <<<"$trained" | cut -d' ' -f4)
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > 0.6 else 1)" "$accuracy" ||
  { echo "the plugin's classifier did not learn: accuracy $accuracy"; exit 1; }
if out=$("$zephyr" --plugin /nonexistent/libnothing.so models 2>&1); then echo "missing plugin accepted"; exit 1; fi
grep -q "^zephyr: error: cannot load plugin '/nonexistent/libnothing.so'" <<<"$out"
if out=$("$zephyr" --plugin "$empty" models 2>&1); then echo "empty plugin accepted"; exit 1; fi
grep -q "^zephyr: error: plugin '.*' registered no models" <<<"$out"
echo "plugin test passed"
