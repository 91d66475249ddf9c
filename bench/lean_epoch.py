"""The lean reference for whole-process timing: import torch, load train.data, train an MLP with
plain SGD written out (no autograd, no optimizer object), and nothing else: no validation, no
files, no test. `bench_training.py --whole-process` times this script as a process beside the
`letterlab train` command, and reads the per-epoch seconds it prints as the hand-written loop.

`--engine numpy` runs the same loop on numpy arrays (the same initial weights): its matrix products
go to numpy's BLAS (OpenBLAS in numpy's wheels) instead of torch's (MKL), and each operation costs
about a microsecond of dispatch instead of several. On this AMD CPU that is the faster loop for the
small MLPs, so the benchmark takes the faster engine as the reference.

    python bench/lean_epoch.py COURSE_FOLDER [--epochs 1] [--hidden 50] [--activation tanh] [--engine torch|numpy]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from letterlab.data.safe_pickle import safe_load_pickle  # numpy arrays only, never plain pickle.load

ACTIVATIONS = {"tanh": (torch.tanh_, lambda a: 1 - a * a), "sigmoid": (torch.sigmoid_, lambda a: a * (1 - a))}


def numpy_sigmoid(z: np.ndarray) -> np.ndarray:
    np.negative(z, out=z)
    np.exp(z, out=z)
    z += 1
    return np.reciprocal(z, out=z)


NUMPY_ACTIVATIONS = {"tanh": (lambda z: np.tanh(z, out=z), lambda a: 1 - a * a), "sigmoid": (numpy_sigmoid, lambda a: a * (1 - a))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", help="a course folder with train.data")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--hidden", default="50", help="hidden widths, comma-separated")
    parser.add_argument("--activation", choices=list(ACTIVATIONS), default="tanh")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--engine", choices=["torch", "numpy"], default="torch")
    args = parser.parse_args()

    record = safe_load_pickle(Path(args.data) / "train.data")
    x = torch.from_numpy(record["data"]).reshape(len(record["data"]), -1).float().div_(255)
    y = torch.from_numpy(record["labels"]).argmax(1)
    torch.manual_seed(0)
    keep = torch.randperm(len(y))[: int(0.8 * len(y))]  # the homework's 80% for training
    x, y = x[keep], y[keep]
    widths = [x.shape[1], *map(int, args.hidden.split(",")), 10]
    weights = [torch.randn(a, b) * 0.1 for a, b in zip(widths, widths[1:])]
    biases = [torch.zeros(b) for b in widths[1:]]
    if args.engine == "numpy":
        seconds = numpy_epochs(x.numpy(), y.numpy(), [w.numpy() for w in weights], [b.numpy() for b in biases], args)
    else:
        seconds = torch_epochs(x, y, weights, biases, args)
    print(json.dumps({"images": len(y), "epoch_seconds": seconds}))


def torch_epochs(x: torch.Tensor, y: torch.Tensor, weights: list[torch.Tensor], biases: list[torch.Tensor], args) -> list[float]:
    """The written-out SGD loop on torch tensors, weights updated in place; per-epoch seconds."""
    forward, derivative = ACTIVATIONS[args.activation]
    seconds = []
    for _ in range(args.epochs):
        started = time.perf_counter()
        for index in torch.randperm(len(y)).split(args.batch_size):
            outputs = [x[index]]
            for k, (w, b) in enumerate(zip(weights, biases)):
                z = torch.addmm(b, outputs[-1], w)
                outputs.append(forward(z) if k < len(weights) - 1 else z)
            grad = torch.softmax(outputs.pop(), 1)
            grad[torch.arange(len(index)), y[index]] -= 1
            grad /= len(index)
            for k in range(len(weights) - 1, -1, -1):
                below = outputs[k]
                down = grad @ weights[k].t() * derivative(below) if k else None
                weights[k].sub_(below.t() @ grad, alpha=args.lr)
                biases[k].sub_(grad.sum(0), alpha=args.lr)
                grad = down
        seconds.append(time.perf_counter() - started)
    return seconds


def numpy_epochs(x: np.ndarray, y: np.ndarray, weights: list[np.ndarray], biases: list[np.ndarray], args) -> list[float]:
    """`torch_epochs`' loop on numpy arrays (its own batch order), weights updated in place; per-epoch seconds."""
    forward, derivative = NUMPY_ACTIVATIONS[args.activation]
    rng, seconds = np.random.default_rng(0), []
    for _ in range(args.epochs):
        started = time.perf_counter()
        order = rng.permutation(len(y))
        for start in range(0, len(y), args.batch_size):
            index = order[start:start + args.batch_size]
            outputs = [x.take(index, axis=0)]
            for k, (w, b) in enumerate(zip(weights, biases)):
                z = outputs[-1] @ w
                z += b
                outputs.append(forward(z) if k < len(weights) - 1 else z)
            grad = outputs.pop()
            grad -= grad.max(1, keepdims=True)
            np.exp(grad, out=grad)
            grad /= grad.sum(1, keepdims=True)
            grad[np.arange(len(index)), y[index]] -= 1
            grad /= len(index)
            for k in range(len(weights) - 1, -1, -1):
                below = outputs[k]
                down = grad @ weights[k].T * derivative(below) if k else None
                weights[k] -= args.lr * (below.T @ grad)
                biases[k] -= args.lr * grad.sum(0)
                grad = down
        seconds.append(time.perf_counter() - started)
    return seconds


if __name__ == "__main__":
    main()
