"""nets::lstm and nets::gru against torch.nn.LSTM and torch.nn.GRU with the same weights.

torch's weights are rearranged into zephyr's (Haiku's) layout: LSTM gates i, f, g, o become
i, g, f, o in one [features + hidden, 4 hidden] matrix, with torch's two biases summed and the 1
Haiku adds to the forget gate taken off; GRU gates r, z, n become z, r, a, with z negated (torch
keeps z of the old state, Haiku of the new one) and b_hn zero, since Haiku has no bias inside
r * (h W_ha). check_recurrent then runs the zephyr layer on the same inputs."""
import os
import subprocess
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "io"))
from check_torch_checkpoint import write  # noqa: E402  (the safetensors writer)

T, BATCH, FEATURES, HIDDEN = 9, 3, 5, 7


def lstm_fixture():
    net = torch.nn.LSTM(FEATURES, HIDDEN)
    xs = torch.randn(T, BATCH, FEATURES)
    with torch.no_grad():
        expected, _ = net(xs)
        i, f, g, o = (slice(k * HIDDEN, (k + 1) * HIDDEN) for k in range(4))
        order = lambda m: torch.cat([m[i], m[g], m[f], m[o]], 0)  # noqa: E731
        w = torch.cat([order(net.weight_ih_l0).T, order(net.weight_hh_l0).T], 0)
        b = order(net.bias_ih_l0 + net.bias_hh_l0)
        b[2 * HIDDEN:3 * HIDDEN] -= 1.0
    return {"params/linear/weights": w.contiguous(), "params/linear/bias": b.contiguous(), "xs": xs,
            "expected": expected.contiguous()}


def gru_fixture():
    net = torch.nn.GRU(FEATURES, HIDDEN)
    xs = torch.randn(T, BATCH, FEATURES)
    with torch.no_grad():
        net.bias_hh_l0[2 * HIDDEN:] = 0.0
        expected, _ = net(xs)
        r, z, n = (slice(k * HIDDEN, (k + 1) * HIDDEN) for k in range(3))
        order = lambda m: torch.cat([-m[z], m[r], m[n]], 0)  # noqa: E731
        w_i = order(net.weight_ih_l0).T
        w_h = order(net.weight_hh_l0).T
        b = order(net.bias_ih_l0 + net.bias_hh_l0)
    return {"params/w_i": w_i.contiguous(), "params/w_h": w_h.contiguous(), "params/b": b.contiguous(), "xs": xs,
            "expected": expected.contiguous()}


def main(checker, directory):
    torch.manual_seed(0)
    failed = False
    for layer, fixture in (("lstm", lstm_fixture), ("gru", gru_fixture)):
        path = os.path.join(directory, f"{layer}_torch.safetensors")
        write(path, fixture())
        result = subprocess.run([checker, path, layer], capture_output=True, text=True)
        sys.stdout.write(result.stdout + result.stderr)
        failed |= result.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
