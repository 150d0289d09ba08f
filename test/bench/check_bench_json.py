"""Checks the rows `zephyr bench --json` writes: the performance issue's schema, and sane values."""
import json
import math
import sys

rows = json.load(open(sys.argv[1]))
names = {r["name"] for r in rows}
for expected in ["mlp_train_step_t1", "mlp_train_step_t2", "mlp_infer_b1_t1", "tiny_mlp_b1_t1",
                 "cnn_train_step_t1", "cnn_train_step_t2", "compile_mlp_train_step", "compile_cnn_train_step"]:
    assert expected in names, f"missing row {expected}"
for r in rows:
    assert set(r) == {"name", "threads", "unit", "zephyr", "baseline", "baseline_name", "speedup", "goal"}, r
    assert r["zephyr"] > 0 and math.isfinite(r["zephyr"]), r
    if r["baseline_name"] == "budget":
        assert r["goal"] == 1.0 and abs(r["speedup"] - r["baseline"] / r["zephyr"]) < 1e-9, r
    elif r["baseline"] is not None:
        assert abs(r["speedup"] - r["baseline"] / r["zephyr"]) < 1e-9, r
    else:
        assert r["speedup"] is None and r["baseline_name"] == "pytorch unavailable", r
print(f"{len(rows)} bench rows ok")
