"""The table docs/performance.md records: several `zephyr bench --json` runs summarized per row.

    python3 tools/bench/summarize_runs.py rows1.json rows2.json rows3.json

Per row: the median of the runs' medians with their range, the baseline's median, the speedup's
median and range (each against its own run's baseline), the goal, and in how many runs the goal
was met. Rows keep the order of the first run.
"""
import json
import statistics
import sys


def number(v):
    return f"{v:.3g}" if v < 1000 else f"{v:.0f}"


def main(paths):
    runs = [json.load(open(p)) for p in paths]
    by_name = [{r["name"]: r for r in run} for run in runs]
    print("| row | zephyr, median of {0} runs (min–max) | baseline (median) | speedup, median (min–max) | goal | met in |"
          .format(len(runs)))
    print("|---|---|---|---|---|---|")
    for row in runs[0]:
        name = row["name"]
        present = [run[name] for run in by_name if name in run]
        values = [r["zephyr"] for r in present]
        unit = row["unit"]
        cell = f"{number(statistics.median(values))} {unit} ({number(min(values))}–{number(max(values))})"
        baselines = [r["baseline"] for r in present if r["baseline"] is not None]
        speedups = [r["speedup"] for r in present if r["speedup"] is not None]
        if not baselines:
            print(f"| {name} | {cell} | {row['baseline_name']} | – | {row['goal']:g} | – |")
            continue
        base = f"{number(statistics.median(baselines))} {unit} {row['baseline_name']}"
        speed = f"{statistics.median(speedups):.2f} ({min(speedups):.2f}–{max(speedups):.2f})"
        met = sum(s >= row["goal"] for s in speedups)
        print(f"| {name} | {cell} | {base} | {speed} | {row['goal']:g} | {met} of {len(speedups)} |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: summarize_runs.py rows1.json [rows2.json ...]")
    main(sys.argv[1:])
