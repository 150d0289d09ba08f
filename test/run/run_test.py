#!/usr/bin/python3
"""`zephyr run` checked from outside C++: numpy writes params and inputs as safetensors, the
tool runs the compiled model, numpy reads the result and compares it with x @ W + b."""
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, array in tensors.items():
        data = np.ascontiguousarray(array).tobytes()
        dtype = {np.dtype("float32"): "F32", np.dtype("int32"): "I32"}[array.dtype]
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        dtype = {"F32": np.float32, "I32": np.int32}[info["dtype"]]
        out[name] = np.frombuffer(raw[8 + n + begin : 8 + n + end], dtype=dtype).reshape(info["shape"])
    return out


def main(zephyr):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((64, 10)).astype(np.float32)
    b = rng.standard_normal(10).astype(np.float32)
    x = rng.standard_normal((8, 64)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        params, inputs, out = (os.path.join(tmp, n) for n in ("p.safetensors", "in.safetensors", "out.safetensors"))
        write_safetensors(params, {"weights": w, "bias": b})
        write_safetensors(inputs, {"x": x})
        subprocess.run([zephyr, "run", "linear", "--params", params, "--inputs", inputs, "-o", out], check=True)
        y = read_safetensors(out)["y"]
        error = np.abs(y - (x @ w + b)).max()
        print(f"zephyr run linear: max |y - numpy| = {error:.3g}")
        ok = y.shape == (8, 10) and error < 1e-4

        write_safetensors(inputs, {"x": x[:, :32]})  # a wrong input shape is a clear error
        result = subprocess.run([zephyr, "run", "linear", "--params", params, "--inputs", inputs, "-o", out],
                                capture_output=True, text=True)
        ok = ok and result.returncode != 0 and "'x' is f32[8, 32] in the files but the model takes f32[8, 64]" in result.stderr
        print(result.stderr.strip())

        # A checkpoint of another model: the error says what is missing and what the file holds.
        write_safetensors(params, {"params/weights": w[:32], "params/encoder/w": b})
        result = subprocess.run([zephyr, "run", "linear", "--params", params, "--inputs", inputs, "-o", out],
                                capture_output=True, text=True)
        print(result.stderr.strip())
        ok = ok and result.returncode != 0 and all(
            part in result.stderr for part in ("'bias' is missing", "'weights': the model has f32[64, 10], the file f32[32, 10]",
                                               "The file holds 2 tensors:", "params/encoder/w f32[10]"))
    print(f"{int(ok)} passed, {int(not ok)} failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
