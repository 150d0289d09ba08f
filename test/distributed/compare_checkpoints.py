#!/usr/bin/env python3
"""Compares two safetensors checkpoints leaf by leaf: the same names, dtypes and shapes, and
values within a tolerance (data-parallel training may only change the order of summation).

Usage: compare_checkpoints.py A B [--atol 1e-4]. Prints the largest difference; exits 1 if any
leaf differs by more than the tolerance."""
import argparse
import json
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64}


def load(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    leaves = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        leaves[name] = np.frombuffer(data[begin:end], DTYPES[entry["dtype"]]).reshape(entry["shape"])
    return leaves


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--atol", type=float, default=1e-4)
    args = parser.parse_args()
    a, b = load(args.a), load(args.b)
    if sorted(a) != sorted(b):
        print(f"different leaves: {sorted(set(a) ^ set(b))}")
        return 1
    worst, where = 0.0, None
    for name in sorted(a):
        if a[name].shape != b[name].shape or a[name].dtype != b[name].dtype:
            print(f"{name}: {a[name].dtype}{list(a[name].shape)} vs {b[name].dtype}{list(b[name].shape)}")
            return 1
        diff = float(np.max(np.abs(a[name].astype(np.float64) - b[name].astype(np.float64)), initial=0.0))
        if diff > worst:
            worst, where = diff, name
    print(f"{len(a)} leaves; largest difference {worst:.3g} (in {where}), tolerance {args.atol:g}")
    return 0 if worst <= args.atol else 1


if __name__ == "__main__":
    sys.exit(main())
