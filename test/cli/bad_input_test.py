#!/usr/bin/python3
"""Table-driven: one case per malformed-file class and per bad flag. Each must exit with code 1,
print its one-line message, and leave the output file that was there unchanged.
Usage: bad_input_test.py ZEPHYR DATA_DIR"""
import gzip
import json
import os
import re
import struct
import subprocess
import sys
import tempfile

ZEPHYR, DATA = sys.argv[1], sys.argv[2]
work = tempfile.mkdtemp(prefix="zephyr-bad-input-")
os.chdir(work)


def safetensors(path, header):
    text = json.dumps(header).encode() if isinstance(header, dict) else header
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)


def raw(path, data):
    with open(path, "wb") as f:
        f.write(data)


# Files the cases read.
raw("huge_number.safetensors", struct.pack("<Q", 11) + b'{"a":1e400}')  # 19 bytes
raw("short.safetensors", b"\x01\x02")
raw("long_header.safetensors", struct.pack("<Q", 1 << 40) + b"{}")
raw("not_json.safetensors", struct.pack("<Q", 4) + b"{{{{")
safetensors("overflow_shape.safetensors", {"w": {"dtype": "BOOL", "shape": [2**32, 2**31, 0], "data_offsets": [0, 0]}})
safetensors("no_epoch.safetensors", {"__metadata__": {"model": "mlp"}})
safetensors("text_epoch.safetensors", {"__metadata__": {"epoch": "three"}})
safetensors("huge_epoch.safetensors", {"__metadata__": {"epoch": "99999999999999999999"}})
safetensors("other_seed.safetensors", {"__metadata__": {"epoch": "1", "seed": "7", "model": "mlp"}})
os.mkfifo("fifo")
os.mkdir("a_directory")
os.mkdir("lying_gzip")
trailer_lies = gzip.compress(b"")[:-4] + struct.pack("<I", 3_300_000_000)  # claims 3.3 GB
raw("lying_gzip/train-images-idx3-ubyte.gz", trailer_lies)
raw("lying_gzip/train-labels-idx1-ubyte.gz", trailer_lies)
raw("no_loss.jsonl", b'{"kind": "epoch", "epoch": 1}\n')
raw("inputs.safetensors", b"")  # never reached: the params fail first

PREVIOUS = b"the previous output, which must survive"
train = ["train", "--data", DATA, "--limit", "1000", "--checkpoint", "out.safetensors"]
run = ["run", "linear", "--inputs", "inputs.safetensors", "-o", "out.safetensors", "--params"]
CASES = [
    # (name, arguments, message part)
    ("epochs 0", train + ["--epochs", "0"], "--epochs 0 is out of range"),
    ("epochs negative", train + ["--epochs", "-1"], "--epochs -1 is out of range"),
    ("batch larger than the data", train + ["--batch-size", "2000"], "larger than the 1000 training examples"),
    ("batch absurd", train + ["--batch-size", "99999999"], "--batch-size 99999999 is out of range"),
    ("lr nan", train + ["--lr", "nan"], "--lr nan is not a learning rate"),
    ("lr negative", train + ["--lr", "-0.1"], "is not a learning rate"),
    ("threads negative", train + ["--threads", "-2"], "--threads -2 is out of range"),
    ("threads absurd", train + ["--threads", "100000"], "--threads 100000 is out of range"),
    ("limit negative", ["train", "--data", DATA, "--limit=-5"], "--limit -5 is negative"),
    ("stop after the end", train + ["--epochs", "2", "--stop-after", "3"], "--stop-after 3 is out of range"),
    ("checkpoint unwritable", ["train", "--data", DATA, "--limit", "1000", "--checkpoint", "/nonexistent/c.safetensors"],
     "cannot write '/nonexistent/c.safetensors'"),
    ("resume: no epoch", train[:-1] + ["no_epoch.safetensors", "--resume"], "no 'epoch' in its metadata"),
    ("resume: epoch not a number", train[:-1] + ["text_epoch.safetensors", "--resume"], "'three' is not an epoch count"),
    ("resume: epoch huge", train[:-1] + ["huge_epoch.safetensors", "--resume"], "is not an epoch count"),
    ("resume: another run", train[:-1] + ["other_seed.safetensors", "--resume"], "with seed 7; this run has seed 0"),
    ("data: gzip size trailer lies", ["train", "--data", "lying_gzip", "--checkpoint", "out.safetensors"],
     "corrupt or truncated gzip stream"),
    ("params: number out of range", run + ["huge_number.safetensors"], "number overflow parsing '1e400'"),
    ("params: too short", run + ["short.safetensors"], "too short for the 8-byte header length"),
    ("params: header longer than file", run + ["long_header.safetensors"], "exceeds the file size"),
    ("params: not JSON", run + ["not_json.safetensors"], "header is not valid JSON"),
    ("params: shape overflows", run + ["overflow_shape.safetensors"], "tensor 'w': shape [4294967296, 2147483648, 0] has more elements"),
    ("unknown flag", ["train", "--epoch", "3"], "were not expected: 3 --epoch"),
    ("unknown optimizer", train + ["--optimizer", "lion"], "unknown --optimizer 'lion' (known: sgd, momentum, adam, adamw)"),
    ("unknown schedule", train + ["--schedule", "cyclic"], "unknown --schedule 'cyclic' (known: constant, cosine,"),
    ("log every 0", train + ["--log", "m.jsonl", "--log-every", "0"], "--log-every 0 is not a step count"),
    ("train: unknown model", train + ["--model", "nosuch"], "unknown model 'nosuch' (built in: mlp, cnn, autoencoder; registered:"),
    ("train: model with two inputs", train + ["--model", "cnn_loss"], "model 'cnn_loss' takes 2 inputs, but was given 1"),
    ("train: model without logits", train + ["--model", "transformer"], "transformer"),
    ("plot: missing log", ["plot", "missing.jsonl", "-o", "out.safetensors"], "cannot read the metrics log missing.jsonl"),
    ("plot: not JSON lines", ["plot", "not_json.safetensors", "-o", "out.safetensors"], "not_json.safetensors:1: not a JSON object"),
    ("plot: no loss", ["plot", "no_loss.jsonl", "-o", "out.safetensors"], "no line has a step and a loss"),
    ("ir: dot of a later stage", ["ir", "linear", "--stage", "mlir", "--format", "dot"], "--format dot draws our graph"),
    ("params: a FIFO", run + ["fifo"], "not a regular file"),
    ("params: a directory", run + ["a_directory"], "a directory, not a file"),
    ("params: missing", run + ["missing.safetensors"], "No such file"),
    ("input shape overflows", ["ir", "linear", "--input-shape", "9223372036854775807,1"], "too many elements"),
    ("input shape elements overflow", ["ir", "linear", "--input-shape", "4611686018427387904,64"],
     "more elements than fit in 64 bits"),
    ("input shape zero", ["ir", "linear", "--input-shape", "0,64"], "expected positive extents"),
    ("input shape text", ["ir", "linear", "--input-shape", "eight,64"], "does not parse"),
    ("input shape too big for memory", ["compile", "linear", "-o", "out.safetensors", "--input-shape", "1000000000000,64"],
     "out of memory"),
    ("compile: header unwritable", ["compile", "linear", "-o", "out.safetensors", "--header", "/nonexistent/m.h"],
     "cannot write '/nonexistent/m.h'"),
    ("unknown stage", ["ir", "linear", "--stage", "nosuchstage"], "unknown stage 'nosuchstage'"),
    ("unknown stage lists grad", ["ir", "linear", "--stage", "nosuchstage"], "(valid: graph, grad, kernels,"),
    ("unknown subcommand", ["bogus"], "unknown subcommand 'bogus' (subcommands: models, params, ir,"),
    ("no subcommand", [], "Subcommands:"),
]

failed = 0
for name, arguments, message in CASES:
    raw("out.safetensors", PREVIOUS)
    try:
        done = subprocess.run([ZEPHYR] + arguments, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        print(f"FAIL {name}: still running after 60 s")
        failed += 1
        continue
    problems = []
    # Under tools/sanitize.sh asan, ASan says it refused a huge allocation before zephyr reports it.
    stderr = re.sub(r"^==\d+==WARNING: AddressSanitizer failed to allocate [^\n]*\n", "", done.stderr)
    if done.returncode != 1:
        problems.append(f"exit code {done.returncode}, expected 1")
    if message not in stderr:
        problems.append(f"stderr lacks {message!r}")
    if not stderr.startswith("zephyr: error: "):
        problems.append("stderr does not start with 'zephyr: error: '")
    with open("out.safetensors", "rb") as f:
        if f.read() != PREVIOUS:
            problems.append("the previous output file was changed")
    leftovers = [f for f in os.listdir(".") if ".tmp." in f]
    if leftovers:
        problems.append(f"temporary files left: {leftovers}")
    if problems:
        failed += 1
        print(f"FAIL {name}: {'; '.join(problems)}\n  stderr: {done.stderr.strip()[:300]}")
    else:
        print(f"ok   {name}: {done.stderr.strip().splitlines()[0][:140]}")
print(f"{len(CASES) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
