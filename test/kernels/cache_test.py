"""The compile cache across processes (`zephyr lm-step`, a small transformer LM's Adam step):
a second process compiles nothing; truncated, bit-flipped and foreign entries are recompiled,
never loaded; two processes filling one cache at once both succeed; ZEPHYR_CACHE=0 turns it off.
Every run must give the same bits (the checksum of the trained parameters)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

zephyr = sys.argv[1]
root = tempfile.mkdtemp(prefix="zephyr_cache_test_")
failures = []


def run(cache, **env):
    args = [zephyr, "lm-step", "--blocks", "2", "--model-dim", "32", "--heads", "2", "--context", "16",
            "--batch", "2", "--steps", "1", "--threads", "1", "--json"]
    environment = {**os.environ, "ZEPHYR_CACHE_DIR": cache, **env}
    return subprocess.Popen(args, env=environment, stdout=subprocess.PIPE, text=True)


def result(process):
    out, _ = process.communicate()
    assert process.returncode == 0, f"lm-step failed with status {process.returncode}"
    return json.loads(out)


def check(condition, message):
    print(("ok   " if condition else "FAIL ") + message)
    if not condition:
        failures.append(message)


def entries(cache):
    return sorted(os.path.join(cache, f) for f in os.listdir(cache) if f.endswith(".kernel"))


try:
    cache = os.path.join(root, "a")
    cold = result(run(cache))
    check(cold["compiled"] == cold["distinct"] > 0, f"cold: compiles all {cold['distinct']} kernels")
    check(len(entries(cache)) == cold["distinct"], "cold: one entry per distinct kernel")
    check(not [f for f in os.listdir(cache) if f.endswith(".tmp")], "cold: no temporary files left")
    warm = result(run(cache))
    check(warm["compiled"] == 0 and warm["from_cache"] == warm["distinct"], "warm: a second process compiles nothing")
    check(warm["checksum"] == cold["checksum"], "warm: the same bits")

    # Damage three entries: truncated, one bit flipped, and another key's entry in its place.
    files = entries(cache)
    with open(files[0], "r+b") as f:
        f.truncate(os.path.getsize(files[0]) // 2)
    with open(files[1], "r+b") as f:
        f.seek(os.path.getsize(files[1]) // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0x10]))
    shutil.copyfile(files[3], files[2])
    damaged = result(run(cache))
    check(damaged["compiled"] == 3, f"damaged: exactly the 3 damaged entries recompiled (got {damaged['compiled']})")
    check(damaged["checksum"] == cold["checksum"], "damaged: the same bits")
    check(result(run(cache))["compiled"] == 0, "damaged: the entries were rewritten")

    # Two processes fill one empty cache at once.
    shared = os.path.join(root, "b")
    first, second = run(shared), run(shared)
    a, b = result(first), result(second)
    check(a["checksum"] == b["checksum"] == cold["checksum"], "concurrent: both succeed with the same bits")
    after = result(run(shared))
    check(after["compiled"] == 0, "concurrent: every entry they wrote is valid")

    off = result(run(os.path.join(root, "c"), ZEPHYR_CACHE="0"))
    check(off["compiled"] == off["distinct"] and not os.path.exists(os.path.join(root, "c")),
          "ZEPHYR_CACHE=0: compiles everything and writes nothing")
finally:
    shutil.rmtree(root, ignore_errors=True)

print(f"{len(failures)} failed")
sys.exit(1 if failures else 0)
