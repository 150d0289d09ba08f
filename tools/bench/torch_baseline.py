"""PyTorch baselines for `zephyr bench`: the same networks and steps, timed the same way.

Prints one JSON object {row name: median seconds, "openblas_kernel": the OpenBLAS kernel that ran}
(rows ending in _step_memory are bytes: see step_memory_bytes). With --main-job DATA_DIR it instead runs the
job `zephyr train --epochs 5` runs (the MLP on Fashion-MNIST, Adam with cosine decay, batch 128)
and prints {"mlp_main_job": wall seconds, "mlp_main_job_accuracy": final test accuracy}, timed from
before loading the data to after the last evaluation. Thread pools are pinned by the caller through
OMP_NUM_THREADS and OPENBLAS_NUM_THREADS (Debian's PyTorch uses both), and it runs without
OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE so that OpenBLAS picks its best kernel for the CPU. Subnormal
floats are flushed to zero (torch.set_flush_denormal), as zephyr's compiled code does by default: on
Intel CPUs a training run whose values decay into that range otherwise slows down by half. Exits with
status 2 when PyTorch is not installed (apt-get install python3-torch).
"""
import argparse
import ctypes
import gc
import gzip
import json
import math
import os
import sys
import time

try:
    import numpy as np
    import torch
except ImportError:
    sys.exit(2)


def openblas_kernel():
    """openblas_get_corename() of the OpenBLAS that Debian's PyTorch loaded (None if it is not OpenBLAS)."""
    try:
        lib = ctypes.CDLL("libopenblas.so.0")  # already loaded by torch: the same instance
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return None


def timed(f, calls):
    t = time.perf_counter()
    for _ in range(calls):
        f()
    return (time.perf_counter() - t) / calls


def median_seconds(f, reps):
    """As zephyr bench's measure(): calls shorter than 20 us are timed in batches that long."""
    f()
    once = min(timed(f, 1) for _ in range(3))
    batch = 1 if once >= 20e-6 else math.ceil(20e-6 / max(once, 1e-9))
    times = [timed(f, batch) for _ in range(reps)]
    times.sort()
    return times[len(times) // 2]


def step_memory_bytes(step):
    """The rise of the resident set over one step, from a process that handed its free memory back
    first: what `zephyr lm-step` reports as a step's memory, measured the same way."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/statm") as statm:
        before = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # restarts VmHWM from the current resident set
    step()
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
    return peak - before


def mlp(widths):
    layers = []
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
        if i + 2 < len(widths):
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def train_step(model, x, y):
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    return step


class Block(torch.nn.Module):
    """zephyr's nets::transformer_block: pre-norm, causal multi-head attention, GELU (tanh) MLP."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = torch.nn.LayerNorm(dim), torch.nn.LayerNorm(dim)
        self.q, self.k, self.v, self.out = (torch.nn.Linear(dim, dim) for _ in range(4))
        self.up, self.down = torch.nn.Linear(dim, 4 * dim), torch.nn.Linear(4 * dim, dim)

    def forward(self, x):
        b, t, d = x.shape
        h = self.norm1(x)
        split = lambda y: y.view(b, t, self.heads, d // self.heads).transpose(1, 2)
        q, k, v = split(self.q(h)), split(self.k(h)), split(self.v(h))
        # Debian's PyTorch (1.13) has no scaled_dot_product_attention: the same, written out.
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(d // self.heads)
        causal = torch.ones(t, t, dtype=torch.bool).triu(1)
        a = torch.softmax(scores.masked_fill(causal, float("-inf")), dim=-1) @ v
        x = x + self.out(a.transpose(1, 2).reshape(b, t, d))
        return x + self.down(torch.nn.functional.gelu(self.up(self.norm2(x)), approximate="tanh"))


class LanguageModel(torch.nn.Module):
    """The bench's LM (tools/zephyr/models.cpp: transformer): byte tokens, learned positions."""

    def __init__(self, blocks, dim, heads, context, vocab=256):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, dim)
        self.positions = torch.nn.Parameter(torch.randn(context, dim) * 0.02)
        self.blocks = torch.nn.Sequential(*(Block(dim, heads) for _ in range(blocks)))
        self.norm, self.head = torch.nn.LayerNorm(dim), torch.nn.Linear(dim, vocab)

    def forward(self, tokens):
        return self.head(self.norm(self.blocks(self.embed(tokens) + self.positions)))


def lm_train_step(blocks, dim=128, heads=4, context=64, batch=8):
    """value_and_grad + Adam of the next-token loss, as `zephyr lm-step` and the bench's LM rows."""
    model = LanguageModel(blocks, dim, heads, context)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    tokens = torch.randint(0, 256, (batch, context + 1))
    x, y = tokens[:, :-1], tokens[:, 1:].reshape(-1)

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x).reshape(-1, 256), y).backward()
        opt.step()
    return step


def load_idx(path, header):
    """An IDX file's uint8 payload after its header (16 bytes for images, 8 for labels)."""
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=header)


def load_split(data_dir, prefix):
    images = load_idx(os.path.join(data_dir, prefix + "-images-idx3-ubyte.gz"), 16)
    labels = load_idx(os.path.join(data_dir, prefix + "-labels-idx1-ubyte.gz"), 8)
    x = torch.from_numpy(images.reshape(-1, 784).astype("float32") / 255)
    return x, torch.from_numpy(labels.astype("int64"))


def accuracy(model, x, y):
    with torch.no_grad():
        correct = sum((model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item()
                      for i in range(0, len(x), 1000))
    return correct / len(x)


def main_job(data_dir, epochs=5, batch=128):
    start = time.perf_counter()
    x, y = load_split(data_dir, "train")
    xt, yt = load_split(data_dir, "t10k")
    model = mlp([784, 512, 512, 10])
    steps = len(x) // batch  # the last partial batch is dropped, as zephyr does
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps * epochs)
    loss_fn = torch.nn.CrossEntropyLoss()
    for _ in range(epochs):
        order = torch.randperm(len(x))
        for s in range(steps):
            i = order[s * batch:(s + 1) * batch]
            opt.zero_grad()
            loss_fn(model(x[i]), y[i]).backward()
            opt.step()
            sched.step()
        acc = accuracy(model, xt, yt)  # every epoch, as zephyr does: it is part of the time
    return {"mlp_main_job": time.perf_counter() - start, "mlp_main_job_accuracy": acc}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--main-job", nargs="?", const="/usr/share/datasets/fashion-mnist",
                        metavar="DATA_DIR", help="time the training job instead of the step rows")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_flush_denormal(True)
    if args.main_job:
        print(json.dumps({**main_job(args.main_job), "openblas_kernel": openblas_kernel()}))
        return
    rows = {}
    net = mlp([784, 512, 512, 10])
    x, y = torch.rand(128, 784), torch.randint(0, 10, (128,))
    rows["mlp_train_step"] = median_seconds(train_step(net, x, y), 50)
    with torch.no_grad():
        x1 = torch.rand(1, 784)
        rows["mlp_infer_b1"] = median_seconds(lambda: net(x1), 200)
        tiny = mlp([64, 64, 64])
        t1 = torch.rand(1, 64)
        rows["tiny_mlp_b1"] = median_seconds(lambda: tiny(t1), 500)
    cnn = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(64 * 7 * 7, 10))
    xc, yc = torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,))
    rows["cnn_train_step"] = median_seconds(train_step(cnn, xc, yc), 20)
    rows["lm_2block_train_step"] = median_seconds(lm_train_step(2), 20)
    rows["lm_8block_train_step"] = median_seconds(lm_train_step(8), 10)
    # The long-context row: the (t, t) scores of every head are stored for the backward pass.
    long_step = lm_train_step(2, context=1024, batch=1)
    rows["lm_2block_ctx1024_train_step"] = median_seconds(long_step, 5)
    rows["lm_2block_ctx1024_step_memory"] = step_memory_bytes(long_step)
    rows["openblas_kernel"] = openblas_kernel()
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
