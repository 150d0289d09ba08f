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
if out=$("$zephyr" --plugin /nonexistent/libnothing.so models 2>&1); then echo "missing plugin accepted"; exit 1; fi
grep -q "^zephyr: error: cannot load plugin '/nonexistent/libnothing.so'" <<<"$out"
if out=$("$zephyr" --plugin "$empty" models 2>&1); then echo "empty plugin accepted"; exit 1; fi
grep -q "^zephyr: error: plugin '.*' registered no models" <<<"$out"
echo "plugin test passed"
