"""Reads the file written by write_safetensors_fixture with the standard library and numpy
only, following the safetensors spec, and checks layout and values independently of zephyr."""
import json
import struct
import sys

import numpy as np

DTYPES = {"F32": "<f4", "F64": "<f8", "I32": "<i4", "BOOL": "?", "F16": "<f2", "I64": "<i8", "U8": "u1", "I8": "i1"}


def main(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0, f"header length {n} is not a multiple of 8"
    assert 8 + n <= len(raw), "header runs past the end of the file"
    text = raw[8 : 8 + n].decode("utf-8")
    assert text.rstrip(" ").endswith("}"), "the header is padded with something other than spaces"
    header = json.loads(text)
    data = raw[8 + n :]

    assert header.pop("__metadata__") == {"producer": "zephyr", "epoch": "7"}
    tensors, cursor = {}, 0
    for name, entry in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        begin, end = entry["data_offsets"]
        assert begin == cursor, f"{name}: begins at {begin}, expected {cursor} (gap or overlap)"
        dtype = np.dtype(DTYPES[entry["dtype"]])
        assert end - begin == dtype.itemsize * int(np.prod(entry["shape"], dtype=np.int64)), name
        tensors[name] = np.frombuffer(data[begin:end], dtype=dtype).reshape(entry["shape"])
        cursor = end
    assert cursor == len(data), "data section is not fully covered"
    assert list(tensors) == ["layer/w", "layer/b", "steps", "mask", "scale", "half", "big", "pixels", "small"], list(tensors)

    i = np.arange(6, dtype=np.float32)
    np.testing.assert_array_equal(tensors["layer/w"], (np.float32(0.5) * i - np.float32(1)).reshape(2, 3))
    np.testing.assert_array_equal(tensors["layer/b"], 1.0 / np.arange(1, 4, dtype=np.float64))
    np.testing.assert_array_equal(tensors["steps"], ((np.arange(4) - 2) * 1000003).astype(np.int32).reshape(2, 2))
    np.testing.assert_array_equal(tensors["mask"], np.arange(5) % 2 == 0)
    assert tensors["scale"].shape == () and tensors["scale"].dtype == np.float32 and tensors["scale"] == 2.5
    # zephyr's compiled casts against numpy's astype, from the same sources.
    floats = np.array([0.1, 1 / 3, 65504, -2.5, 1e-5, 70000], dtype=np.float32)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(tensors["half"], floats.astype(np.float16))  # 70000 -> inf
    steps = ((np.arange(4) - 2) * 1000003).astype(np.int32).reshape(2, 2)
    np.testing.assert_array_equal(tensors["big"], steps.astype(np.int64) * 1000003)
    bytes_ = np.array([0, 1.5, 254.9, 255, 100.2], dtype=np.float32)
    np.testing.assert_array_equal(tensors["pixels"], bytes_.astype(np.uint8))
    np.testing.assert_array_equal(tensors["small"], np.array([-200, -128, 127, 200, 5], dtype=np.int32).astype(np.int8))
    for name, t in tensors.items():
        print(f"{name}: {t.dtype}{list(t.shape)} ok")


if __name__ == "__main__":
    main(sys.argv[1])
