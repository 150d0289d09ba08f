#!/usr/bin/python3
"""`zephyr train` killed with SIGKILL at random points, 20 times, each time resumed: the
checkpoint is always a complete file, no temporary of a dead process outlives the next save, and
the run that finally completes holds the same bytes as one never interrupted.
Usage: kill_test.py ZEPHYR DATA_DIR CACHE_DIR"""
import json
import os
import random
import signal
import struct
import subprocess
import sys
import tempfile
import time

ZEPHYR, DATA, CACHE = sys.argv[1:4]
work = tempfile.mkdtemp(prefix="zephyr-kill-")
env = dict(os.environ, ZEPHYR_CACHE_DIR=CACHE)
common = ["train", "--data", DATA, "--limit", "2000", "--batch-size", "100", "--epochs", "12", "--seed", "5"]
random.seed(1234)


def complete(path):
    """The file is a whole safetensors file: header parses, every tensor's bytes are present."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    return len(raw) == 8 + n + end and "epoch" in header["__metadata__"]


def temporaries():
    return sorted(f for f in os.listdir(work) if ".tmp." in f)


straight = os.path.join(work, "straight.safetensors")
subprocess.run([ZEPHYR] + common + ["--checkpoint", straight], check=True, env=env, stdout=subprocess.DEVNULL)

checkpoint = os.path.join(work, "killed.safetensors")
failures, kills, mid_save = [], 0, 0
while kills < 20:
    resume = ["--resume"] if os.path.exists(checkpoint) else []
    process = subprocess.Popen([ZEPHYR] + common + ["--checkpoint", checkpoint] + resume, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(random.uniform(0.05, 1.5))
    if process.poll() is not None:  # finished (or failed) before the kill: start over
        if process.returncode != 0:
            failures.append(f"a run failed: {process.stderr.read().decode()[:300]}")
            break
        os.remove(checkpoint)
        continue
    process.send_signal(signal.SIGKILL)
    process.wait()
    kills += 1
    if os.path.exists(checkpoint) and not complete(checkpoint):
        failures.append(f"kill {kills}: the checkpoint is not a complete file")
    mid_save += bool(temporaries())

# The run that completes: its first save removes every temporary left by the killed ones.
resume = ["--resume"] if os.path.exists(checkpoint) else []
done = subprocess.run([ZEPHYR] + common + ["--checkpoint", checkpoint] + resume, env=env, capture_output=True, text=True)
if done.returncode != 0:
    failures.append(f"the final run failed: {done.stderr[:300]}")
if temporaries():
    failures.append(f"temporaries outlived the next save: {temporaries()}")
with open(straight, "rb") as a, open(checkpoint, "rb") as b:
    if a.read() != b.read():
        failures.append("the interrupted and resumed run differs from the straight one")
for f in failures:
    print("FAIL", f)
print(f"{kills} kills survived ({mid_save} left a temporary behind); {'0 failed' if not failures else f'{len(failures)} failed'}")
sys.exit(1 if failures else 0)
