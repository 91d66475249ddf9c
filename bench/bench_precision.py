"""Training speed of `letters-best` in bfloat16 autocast against float32, in one run.

Each round trains the preset through letterlab's own path (`train_run`: augmentation, metrics,
TensorBoard, checkpoints) for `--epochs` epochs on `--images` training images, once per precision,
the precisions alternating; the best epoch of each counts. Prints seconds an epoch, images a second
and bf16's speed-up over fp32 (the reference), and whether this CPU has bf16 units (oneDNN's
check): without them bf16 is emulated and slower.

    python bench/bench_precision.py [--images 3000] [--epochs 2] [--rounds 2] [--widths 40,80,160]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

import numpy as np
import torch

from letterlab.data.registry import load_data
from letterlab.data.split import make_splits
from letterlab.models.inference import has_bf16_units
from letterlab.models.presets import resolve_config
from letterlab.runs import TIMING, read_jsonl
from letterlab.training.session import train_run

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "notmnist" / "course"


def best_epoch(precision: str, widths: list[int] | None, splits, epochs: int) -> float:
    config = resolve_config("letters-best", epochs=epochs, precision=precision, **({"widths": widths} if widths else {}))
    with tempfile.TemporaryDirectory() as folder:
        train_run(config, Path(folder), splits, torch.device("cpu"), progress=False)
        return min(row["seconds"] for row in read_jsonl(Path(folder) / TIMING))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=3000, help="training images (a random subset)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--widths", default="", help="the net's stage widths instead of the preset's, e.g. 40,80,160")
    parser.add_argument("--data", default=str(REAL_DATA) if REAL_DATA.exists() else None)
    args = parser.parse_args()
    splits = make_splits(load_data(args.data), seed=0)
    keep = np.random.default_rng(0).permutation(len(splits.train))[:args.images]
    splits = dataclasses.replace(splits, train=splits.train.subset(keep))
    widths = [int(w) for w in args.widths.split(",")] if args.widths else None
    print(f"data: {splits.train.source}, {len(splits.train)} training images; {torch.get_num_threads()} threads; "
          f"bf16 units: {'yes' if has_bf16_units(torch.device('cpu')) else 'no'} ({torch.backends.cpu.get_cpu_capability()})")
    best = {"fp32": float("inf"), "bf16": float("inf")}
    for _ in range(args.rounds):
        for precision in best:
            best[precision] = min(best[precision], best_epoch(precision, widths, splits, args.epochs))
    net = f"letters-best{' widths ' + args.widths if widths else ''}"
    for precision, seconds in best.items():
        print(f"{net:<32}{precision:>6}{seconds:>10.2f} s/epoch{len(splits.train) / seconds:>10,.0f} img/s")
    print(f"bf16 speed-up over fp32: {best['fp32'] / best['bf16']:.2f}x")


if __name__ == "__main__":
    main()
