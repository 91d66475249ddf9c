"""Train every config of an ablation for several seeds, then print its table.

Each (config, seed) is one `letterlab train` into OUT/<config name>/seed<k>; folders that already
hold results.json are kept, so an interrupted sweep continues where it stopped. The table gives
the mean and standard deviation over seeds of validation and test accuracy and of training time
(letterlab.reports.ablation; `letterlab report DIR --ablation OUT` puts the same table in a report).

    python docs/ablation/run.py docs/ablation/grid/*.toml --data PATH --out runs/grid --seeds 3 --jobs 2
    python docs/ablation/run.py docs/ablation/grid/*.toml --out runs/grid --table-only
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from letterlab.reports.ablation import ablation_table, read_ablation
from letterlab.reports.markdown import to_markdown


def train(config: Path, seed: int, args) -> tuple[str, int]:
    run_dir = Path(args.out) / config.stem / f"seed{seed}"
    if (run_dir / "results.json").exists():
        return f"{run_dir}: kept", 0
    command = [sys.executable, "-m", "letterlab", "train", "--config", str(config), "--seed", str(seed),
               "--out", str(run_dir), "--device", args.device, "--no-progress"]
    if args.data:
        command += ["--data", args.data]
    if (run_dir / "config.json").exists():  # interrupted: continue it
        command = [sys.executable, "-m", "letterlab", "train", "--resume", str(run_dir), "--device", args.device, "--no-progress"]
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(run_dir.parent / f"seed{seed}.log", "w") as log:
        code = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT)
    return f"{run_dir}: exit {code}", code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="+", type=Path)
    parser.add_argument("--out", default="runs/grid")
    parser.add_argument("--data")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1, help="trainings at once (on a CPU give each OMP_NUM_THREADS=1)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args()
    failed = 0
    if not args.table_only:
        work = [(config, seed) for seed in range(args.seeds) for config in args.configs]
        with ThreadPoolExecutor(args.jobs) as pool:
            for message, code in pool.map(lambda item: train(*item, args), work):
                print(message, flush=True)
                failed += code != 0
    wanted = {config.stem for config in args.configs}
    print(to_markdown([ablation_table([row for row in read_ablation(Path(args.out)) if row.name in wanted])]))
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
