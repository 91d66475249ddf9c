"""A sweep on Ray Tune against the same trainings back to back in one process, measured in one run
of this script: 8 trials of `mlp-tanh-50` (3 epochs, seeds 0-7) on the course data (the embedded
default when it is absent).

    python bench/bench_sweep.py [--trials 8] [--epochs 3] [--preset mlp-tanh-50] [--data PATH]

Prints the wall time of both, their ratio (back to back / sweep: target >= 1.0, the sweep no
slower), Ray's start-up (target < 15 s) and its overhead per trial: the sweep's wall time less Ray's
start-up and the time the trials spent in their own functions (loading data, training, scoring)
shared over the concurrent slots, divided by the trials (target < 2 s)."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

import letterlab

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "notmnist" / "course"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--preset", default="mlp-tanh-50")
    parser.add_argument("--data", default=str(REAL_DATA) if REAL_DATA.is_dir() else None)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(dir=".") as folder:
        spec = Path(folder) / "bench.toml"
        data = f'data = "{args.data}"\n' if args.data else ""
        spec.write_text(f'base = "{args.preset}"\nseeds = {args.trials}\n{data}[overrides]\ntrain.epochs = {args.epochs}\n')

        started = time.perf_counter()
        for seed in range(args.trials):
            letterlab.train(args.preset, args.data, out=Path(folder) / "alone" / f"seed{seed}", progress=False,
                            epochs=args.epochs, seed=seed)
        back_to_back = time.perf_counter() - started

        result = letterlab.sweep(spec, out=Path(folder) / "sweep", progress=False)
    if {t.status for t in result.trials} != {"trained"}:
        raise SystemExit(f"the sweep did not train every trial: {[(t.variant, t.seed, t.status) for t in result.trials]}")
    inside = sum(t.wall_seconds for t in result.trials)
    overhead = (result.wall_seconds - result.ray_start_seconds - inside / cores) / len(result.trials)
    print(f"{args.trials} trials of {args.preset}, {args.epochs} epochs, on {args.data or 'the embedded default'}; {cores} cores")
    print(f"back to back in one process ({torch.get_num_threads()} threads): {back_to_back:.1f} s")
    print(f"sweep on a local Ray ({cores} trials at once, 1 thread each): {result.wall_seconds:.1f} s, "
          f"of which Ray's start-up {result.ray_start_seconds:.1f} s")
    print(f"ratio back to back / sweep: {back_to_back / result.wall_seconds:.2f}x (target >= 1.0)")
    print(f"Ray's start-up: {result.ray_start_seconds:.1f} s (target < 15 s)")
    print(f"overhead per trial: {overhead:.2f} s (target < 2 s); time inside the trials {inside:.1f} s, "
          f"{inside / len(result.trials):.2f} s a trial")


if __name__ == "__main__":
    main()
