"""PyTorch baselines for `zephyr bench`: the same networks and steps, timed the same way.

Prints one JSON object {row name: median seconds}. Thread pools are pinned by the caller through
OMP_NUM_THREADS and OPENBLAS_NUM_THREADS (Debian's PyTorch uses both). Exits with status 2 when
PyTorch is not installed (apt-get install python3-torch).
"""
import json
import sys
import time

try:
    import torch
except ImportError:
    sys.exit(2)


def median_seconds(f, reps):
    f()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2]


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


def main():
    torch.manual_seed(0)
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
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
