#!/usr/bin/python3
"""zephyr train --log writes one JSON line per logging step and per epoch, with the learning rate
the schedule gives (checked against its formula here) and the accuracy the run prints; a resumed
run's log equals the straight run's but for timings; `zephyr plot` draws it as an SVG that
Chromium renders to a picture that is not blank; `zephyr ir --format dot|svg` draws the graph.
Usage: metrics_plot_test.py ZEPHYR DATA_DIR CHROMIUM DOT"""
import json
import math
import os
import re
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
import zlib

ZEPHYR, DATA, CHROMIUM, DOT = sys.argv[1:5]
work = tempfile.mkdtemp(prefix="zephyr-metrics-")
os.chdir(work)
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures.append(what)


def zephyr(*arguments):
    done = subprocess.run([ZEPHYR, *arguments], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        sys.exit(f"zephyr {' '.join(arguments)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def read_log(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


# 2 epochs of 40 steps, a line every 10 steps: 4 step lines and 1 epoch line per epoch.
peak, steps_per_epoch, epochs, every = 0.05, 40, 2, 10
common = ["train", "--data", DATA, "--limit", "2560", "--batch-size", "64", "--epochs", str(epochs), "--seed", "4",
          "--optimizer", "momentum", "--schedule", "warmup-cosine", "--lr", str(peak), "--log-every", str(every),
          "--threads", "1"]
out = zephyr(*common, "--log", "straight.jsonl", "--checkpoint", "straight.safetensors")
lines = read_log("straight.jsonl")
kinds = [line["kind"] for line in lines]
check(kinds == (["step"] * 4 + ["epoch"]) * 2, f"line kinds per epoch: 4 step lines, then the epoch's ({kinds})")
check(all({"step", "epoch", "loss", "learning_rate", "examples_per_second"} <= line.keys() for line in lines),
      "every line has step, epoch, loss, learning_rate and examples_per_second")
check([line["step"] for line in lines if line["kind"] == "step"] == [10, 20, 30, 40, 50, 60, 70, 80],
      "step lines at every 10th step")

# warmup-cosine: a linear ramp over 5 % of the 80 steps, then a cosine from the peak to 0.
total = steps_per_epoch * epochs
warm = max(1, total // 20)
def rate(step):
    after = max(step - warm, 1)
    return min(step / warm, 1) * peak * 0.5 * (1 + math.cos(math.pi * min(after / (total - warm), 1)))
check(all(abs(line["learning_rate"] - rate(line["step"])) < 1e-6 for line in lines),
      "learning rates follow warmup-cosine: " + ", ".join(f"{l['learning_rate']:.5f}" for l in lines))
printed = [float(a) for a in re.findall(r"test accuracy ([0-9.]+)", out)]
logged = [line["test_accuracy"] for line in lines if line["kind"] == "epoch"]
check(len(printed) == 2 and all(abs(p - l) < 1e-4 for p, l in zip(printed, logged)),
      f"epoch lines carry the printed test accuracy ({logged} vs {printed})")
check(logged[-1] > 0.6, f"momentum SGD learns: final accuracy {logged[-1]:.3f} > 0.6")
check(all(line["examples_per_second"] > 0 for line in lines), "examples per second measured on every line")
check("ETA" in out and "first step (trace + compile)" in out, "the progress shows the compile step apart and an ETA")
check("2 epochs" in out and "momentum" in out.split("\n")[0], "the header names the epochs and the optimizer")

# Stopped after epoch 1 and resumed: the log keeps epoch 1's lines and adds epoch 2's, with the
# same losses, rates and accuracies as the straight run (the run is bit for bit the same).
zephyr(*common, "--log", "resumed.jsonl", "--checkpoint", "resumed.safetensors", "--stop-after", "1")
check(len(read_log("resumed.jsonl")) == 5, "an interrupted run's log has its epoch's 5 lines")
zephyr(*common, "--log", "resumed.jsonl", "--checkpoint", "resumed.safetensors", "--resume")
def deterministic(ls):
    return [(l["kind"], l["step"], l["loss"], l["learning_rate"], l.get("test_accuracy")) for l in ls]
check(deterministic(read_log("resumed.jsonl")) == deterministic(lines), "the resumed run's log equals the straight run's")

# The plot: well-formed SVG with the two charts' curves and labels.
zephyr("plot", "straight.jsonl", "-o", "curve.svg")
svg = ET.parse("curve.svg").getroot()
ns = "{http://www.w3.org/2000/svg}"
polylines = svg.findall(f".//{ns}polyline")
texts = [t.text for t in svg.iter(f"{ns}text")]
check(svg.tag == f"{ns}svg" and len(polylines) == 3, f"curve.svg: an SVG with 3 curves ({len(polylines)})")
check("test accuracy" in texts and "loss" in texts, "curve.svg labels the loss and test accuracy")


def png_pixels(path):
    """Width, height and RGB(A) rows of a PNG (8-bit, non-interlaced, as Chromium writes)."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    at, idat = 8, b""
    while at < len(data):
        size, kind = struct.unpack(">I4s", data[at:at + 8])
        body = data[at + 8:at + 8 + size]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        at += 12 + size
    assert depth == 8 and color in (2, 6), f"PNG depth {depth} color type {color}"
    channels = 3 if color == 2 else 4
    raw, stride, rows, previous = zlib.decompress(idat), width * channels, [], bytearray(width * channels)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1: line[i] = (line[i] + a) & 255
            elif kind == 2: line[i] = (line[i] + b) & 255
            elif kind == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        previous = line
    return width, height, channels, rows


if CHROMIUM:
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--screenshot=" + os.path.join(work, "curve.png"), "--window-size=800,600",
                    "file://" + os.path.join(work, "curve.svg")], capture_output=True, timeout=120)
    check(os.path.exists("curve.png"), "Chromium rendered curve.svg to curve.png")
    if os.path.exists("curve.png"):
        width, height, channels, rows = png_pixels("curve.png")
        check((width, height) == (800, 600), f"the picture is 800x600 ({width}x{height})")
        pixels = [row[i:i + 3] for row in rows for i in range(0, len(row), channels)]
        background = max(set(pixels[::97]), key=pixels[::97].count)
        drawn = sum(p != background for p in pixels) / len(pixels)
        colours = {p for p in pixels if p[0] < 80 and p[1] > 120 and p[2] < 80}  # the accuracy curve's green
        check(0.02 < drawn < 0.9, f"the picture is not blank: {drawn:.1%} of pixels drawn")
        check(len(colours) > 0, "the accuracy curve's green shows in the picture")
else:
    print("skip Chromium rendering: apt-get install chromium (tools/setup.sh does)")

# The graph as DOT, and as SVG through Graphviz.
dot = zephyr("ir", "mlp", "--stage", "graph", "--format", "dot")
check(dot.startswith('digraph "') and 'subgraph "cluster_' in dot and 'label="0"' in dot,
      "the DOT graph clusters parameters by path")
check(re.search(r"matmul.*\\nf32\[128, 512\]\\nmodels\.cpp:\d+", dot) is not None,
      "DOT op boxes show the op, its shape and the model's file:line")
if DOT:
    rendered = subprocess.run([DOT, "-Tsvg"], input=dot, capture_output=True, text=True)
    check(rendered.returncode == 0, "Graphviz accepts the DOT: " + rendered.stderr.strip()[:200])
    svg = zephyr("ir", "mlp_loss", "--stage", "grad", "--format", "svg")
    check("<svg" in svg and "matmul" in svg, "--format svg renders the gradient graph through dot")
else:
    print("skip Graphviz rendering: apt-get install graphviz (tools/setup.sh does)")

print(f"{len(failures)} failed")
sys.exit(1 if failures else 0)
