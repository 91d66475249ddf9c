"""The full homework on a GPU: letterlab's training path against a plain hand-written loop.

For each homework preset, at the homework's own epochs (MLPs 60, CNNs 10): a plain PyTorch loop with
the data already on the GPU (one randperm per epoch, no syncs inside an epoch), then letterlab's
`train_run` with every hook it has (per-batch TensorBoard scalars, validation, confusion image,
metrics files, checkpoints). Prints seconds of each, their ratio and the totals.

    python bench/bench_gpu.py [--presets cnn,mlp-tanh-50] [--data PATH] [--precision bf16]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from letterlab.data.registry import load_data
from letterlab.data.split import make_splits
from letterlab.models.build import build_model
from letterlab.models.inputs import images_to_tensor
from letterlab.models.presets import HOMEWORK_PRESETS, get_preset
from letterlab.pipeline import epoch_hooks
from letterlab.training.session import train_run

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "notmnist" / "course"


def reference_seconds(preset: str, x: torch.Tensor, y: torch.Tensor) -> float:
    """The plain loop at the homework's epochs; seconds from first step to last, synchronised."""
    config = get_preset(preset)
    t = config.train
    torch.manual_seed(0)
    model = build_model(config.model).to(x.device)
    optimizer = torch.optim.Adam(model.parameters(), t.lr) if t.optimizer == "adam" else torch.optim.SGD(model.parameters(), t.lr)
    model.train()
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(t.epochs):
        for index in torch.randperm(len(y), device=x.device).split(t.batch_size):
            loss = F.cross_entropy(model(x[index]), y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    torch.cuda.synchronize()
    return time.perf_counter() - started


def letterlab_seconds(preset: str, splits, device: torch.device, **overrides) -> float:
    """Wall seconds of letterlab's `train_run` with all hooks, at the homework's epochs."""
    config = get_preset(preset, **overrides)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        train_run(config, Path(folder), splits, device, progress=False, extra_hooks=epoch_hooks(config))
        torch.cuda.synchronize()
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default=",".join(HOMEWORK_PRESETS))
    parser.add_argument("--data", default=str(REAL_DATA) if REAL_DATA.exists() else None)
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    args = parser.parse_args()
    device = torch.device("cuda")
    splits = make_splits(load_data(args.data))
    x, y = images_to_tensor(splits.train.images, device), torch.from_numpy(splits.train.labels).to(device)
    print(f"{torch.cuda.get_device_name()}; torch {torch.__version__}; {len(y)} training images; {args.precision}")
    reference_seconds("mlp-tanh-50", x[:2048], y[:2048])  # warm up CUDA, cuBLAS and cuDNN
    print("| preset | epochs | plain loop s | letterlab s | letterlab / plain |")
    print("| --- | ---: | ---: | ---: | ---: |")
    totals = [0.0, 0.0]
    for preset in args.presets.split(","):
        plain = reference_seconds(preset, x, y)
        ours = letterlab_seconds(preset, splits, device, precision=args.precision)
        totals[0] += plain
        totals[1] += ours
        print(f"| {preset} | {get_preset(preset).train.epochs} | {plain:.2f} | {ours:.2f} | {ours / plain:.2f} |", flush=True)
    print(f"| total | | {totals[0]:.2f} | {totals[1]:.2f} | {totals[1] / totals[0]:.2f} |")


if __name__ == "__main__":
    main()
