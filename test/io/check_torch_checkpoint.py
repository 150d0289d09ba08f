"""A checkpoint written by PyTorch loads in zephyr: tensors in bf16, f16, i64, u8 and i8 (and f32)
are written by torch into a safetensors file (the format's header by hand, the data as torch
lays it out in memory), read back by print_safetensors, and compared value for value."""
import json
import struct
import subprocess
import sys

import torch

FORMATS = {torch.bfloat16: "BF16", torch.float16: "F16", torch.float32: "F32", torch.int64: "I64",
           torch.uint8: "U8", torch.int8: "I8"}
NAMES = {"BF16": "bf16", "F16": "f16", "F32": "f32", "I64": "i64", "U8": "u8", "I8": "i8"}


def raw_bytes(t):
    t = t.contiguous()
    if t.dtype in (torch.bfloat16, torch.float16):
        return t.view(torch.int16).numpy().tobytes()  # numpy has no bf16: the bits as int16
    return t.numpy().tobytes()


def write(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = raw_bytes(t)
        header[name] = {"dtype": FORMATS[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main(reader, path):
    torch.manual_seed(0)
    tensors = {
        "encoder/w": torch.randn(3, 4).to(torch.bfloat16),   # bf16 weights, as mixed precision keeps them
        "encoder/b": (torch.randn(4) * 100).to(torch.float16),
        "master": torch.randn(2, 3),
        "step": torch.tensor([123456789012, -5], dtype=torch.int64),
        "pixels": torch.tensor([[0, 17, 255], [128, 1, 200]], dtype=torch.uint8),
        "offsets": torch.tensor([-128, -1, 0, 127], dtype=torch.int8),
    }
    write(path, tensors)
    out = subprocess.run([reader, path], check=True, capture_output=True, text=True).stdout.splitlines()
    read = {}
    for line in out:
        name, dtype, rest = line.split(" ", 2)
        shape, _, values = rest.partition("] ")
        read[name] = (dtype, [int(d) for d in shape.strip("[]").split(", ") if d], [float(v) for v in values.split()])
    assert list(read) == list(tensors), (list(read), list(tensors))
    for name, t in tensors.items():
        dtype, shape, values = read[name]
        assert dtype == NAMES[FORMATS[t.dtype]], (name, dtype)
        assert shape == list(t.shape), (name, shape)
        want = t.double().flatten().tolist()
        assert values == want, (name, values, want)  # exact: every value is a double exactly
        print(f"{name}: {dtype}{shape} ok")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
