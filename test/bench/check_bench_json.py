"""Checks the rows `zephyr bench --json` writes: the performance issue's schema, and sane values."""
import json
import math
import shutil
import sys

rows = json.load(open(sys.argv[1]))
quick = "--quick" in sys.argv
names = {r["name"] for r in rows}
expected = ["mlp_train_step_t1", "mlp_train_step_t2", "mlp_infer_b1_t1", "tiny_mlp_b1_t1", "tiny_mlp_b1_prepared_t1",
            "mlp_infer_b1_prepared_t1", "mlp_infer_b1_read_rate_t1",
            "cnn_train_step_t1", "cnn_train_step_t2", "compile_mlp_train_step", "compile_cnn_train_step",
            "mlp_train_peak_memory", "compile_scan_256_over_16_steps"]
for threads in (1, 2):
    expected += [f"matmul_{size}_t{threads}" for size in (256, 512, 1024, 1000)]
    expected += [f"matmul_128x784x512_t{threads}", f"matmul_128x512x10_t{threads}",
                 f"matmul_tn_784x128x512_t{threads}", f"matmul_nt_128x512x784_t{threads}",
                 f"matmul_tn_1024_t{threads}", f"matmul_nt_1024_t{threads}"]
    expected += [f"lm_{blocks}block_train_step_t{threads}" for blocks in (2, 8)]
    expected += [f"lm_2block_ctx1024_train_step_t{threads}", f"lm_2block_ctx1024_step_memory_t{threads}"]
    if not quick:
        expected += [f"matmul_2048_t{threads}", f"mlp_main_job_t{threads}", f"mlp_main_job_accuracy_t{threads}"]
expected.append("mlp_train_rss_growth_2k" if quick else "mlp_train_rss_growth_10k")
if shutil.which("mpirun") and "--no-distributed" not in sys.argv:
    expected += [f"distributed_{model}_step_2ranks{vs}" for model in ("mlp", "cnn") for vs in ("", "_overlap", "_vs_2thr", "_zero")]
for name in expected:
    assert name in names, f"missing row {name}"
# OpenBLAS's AVX-512 kernels: on such a CPU a baseline on any other kernel must have been refused.
avx512 = " avx512f " in " " + open("/proc/cpuinfo").read().replace("\n", " ") + " "
avx512_kernels = {"skylakex", "cooperlake", "sapphirerapids"}
for r in rows:
    assert set(r) == {"name", "threads", "unit", "zephyr", "baseline", "baseline_name", "speedup", "goal",
                      "baseline_kernel"}, r
    assert r["zephyr"] > 0 and math.isfinite(r["zephyr"]), r
    higher_is_better = r["unit"] in ("GFLOP/s", "GB/s", "accuracy")
    kernel = r["baseline_kernel"]
    if r["baseline"] is None:
        assert r["speedup"] is None, r
        assert r["baseline_name"].endswith(" missing") or r["baseline_name"].endswith(" refused"), r
        if r["baseline_name"].endswith(" refused"):
            assert kernel is not None and avx512 and kernel.lower() not in avx512_kernels, r
        continue
    if r["baseline_name"] in ("openblas", "pytorch", "libtorch"):
        assert kernel is not None, f"{r['name']}: the baseline did not say which OpenBLAS kernel ran"
        if avx512:
            assert kernel.lower() in avx512_kernels, f"{r['name']}: baseline ran OpenBLAS's {kernel} kernel"
    speedup = r["zephyr"] / r["baseline"] if higher_is_better else r["baseline"] / r["zephyr"]
    assert abs(r["speedup"] - speedup) < 1e-9 * speedup, r
    if r["baseline_name"] == "budget":
        assert r["goal"] == 1.0, r
print(f"{len(rows)} bench rows ok")
