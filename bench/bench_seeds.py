"""Cost of training several seeds of an MLP preset together (`letterlab train --seeds N`) against
one seed alone and against N separate runs, in one run of this script.

    python bench/bench_seeds.py [--presets mlp-tanh-50,...] [--seeds 8] [--epochs 3]

Prints the seconds of a training epoch (best of `--epochs`) for one separate run, for N seeds
stacked, and the ratios: stacked N / one run (target <= 2.5 for the overhead-bound presets) and
stacked N / N separate runs (target <= 1)."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from letterlab.data.registry import load_data
from letterlab.data.split import make_splits
from letterlab.models.presets import get_preset
from letterlab.runs import TIMING, read_jsonl
from letterlab.training.session import train_run
from letterlab.training.stacked import train_stacked

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "notmnist" / "course"


def separate_epoch(preset: str, splits, epochs: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        train_run(get_preset(preset, epochs=epochs), Path(folder), splits, torch.device("cpu"), progress=False)
        return min(row["seconds"] for row in read_jsonl(Path(folder) / TIMING))


def stacked_epoch(preset: str, splits, epochs: int, seeds: int) -> float:
    configs = [get_preset(preset, epochs=epochs, seed=seed) for seed in range(seeds)]
    with tempfile.TemporaryDirectory() as folder:
        run_dirs = [Path(folder) / f"seed{seed}" for seed in range(seeds)]
        for run_dir in run_dirs:
            run_dir.mkdir()
        train_stacked(configs, run_dirs, splits, torch.device("cpu"))
        # timing.jsonl holds each model's share of a stacked epoch: the whole epoch is seeds x that.
        return seeds * min(row["seconds"] for row in read_jsonl(run_dirs[0] / TIMING))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="mlp-sigmoid-50,mlp-tanh-50,mlp-tanh-100x2,mlp-tanh-500")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--data", default=str(REAL_DATA) if REAL_DATA.exists() else None)
    args = parser.parse_args()
    splits = make_splits(load_data(args.data), seed=0)
    print(f"data: {splits.train.source}, {len(splits.train)} training images; {torch.get_num_threads()} threads")
    print(f"{'preset':<16}{'1 run s/epoch':>15}{f'{args.seeds} stacked s/epoch':>20}{'stacked / 1 run':>17}{f'stacked / {args.seeds} runs':>19}")
    for preset in args.presets.split(","):
        one = separate_epoch(preset, splits, args.epochs)
        together = stacked_epoch(preset, splits, args.epochs, args.seeds)
        print(f"{preset:<16}{one:>15.3f}{together:>20.3f}{together / one:>17.2f}{together / (args.seeds * one):>19.2f}")


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"({time.perf_counter() - started:.0f} s)")
