"""`letterlab reproduce` (train the homework's experiments and report on them) and `letterlab report`."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from letterlab.cli.train_commands import PRESET_NAMES, add_data_argument, add_device_argument
from letterlab.models.presets import HOMEWORK_PRESETS


def register(subparsers) -> None:
    reproduce = subparsers.add_parser(
        "reproduce", help="run the homework's six experiments and write one report",
        description="Train the homework's presets into one folder (a run folder per preset and seed), reusing finished "
                    "runs and resuming interrupted ones, then write summary.json, report.md and report.html there.")
    add_data_argument(reproduce)
    reproduce.add_argument("--out", metavar="DIR", help="output folder (default reports/<time>); rerun with it to continue")
    reproduce.add_argument("--presets", metavar="A,B,...", help=f"comma-separated presets (default: the homework's six): {', '.join(PRESET_NAMES)}")
    profile = reproduce.add_mutually_exclusive_group()
    profile.add_argument("--quick", dest="profile", action="store_const", const="quick",
                         help="smoke run of about a minute (MLPs 3 epochs, CNNs 1)")
    profile.add_argument("--full", dest="profile", action="store_const", const="full", help="the homework's exact settings")
    reproduce.set_defaults(profile="default")
    reproduce.add_argument("--seeds", type=int, default=1, metavar="N", help="repeat each preset with seeds 0..N-1 (default 1)")
    reproduce.add_argument("--faithful", action="store_true",
                           help="also train the four MLPs with the homework's double-softmax bug, side by side")
    reproduce.add_argument("--force", action="store_true", help="retrain runs that are already complete")
    add_device_argument(reproduce)
    add_sweep_argument(reproduce)
    reproduce.add_argument("--no-progress", action="store_true", help="no progress bar")
    reproduce.set_defaults(func=run_reproduce)

    report = subparsers.add_parser("report", help="(re)write summary.json, report.md and report.html of a folder of runs",
                                   description="Render the report from the finished run folders under DIR.")
    report.add_argument("out", metavar="DIR")
    add_sweep_argument(report)
    report.set_defaults(func=run_report)


def add_sweep_argument(parser) -> None:
    parser.add_argument("--sweep", metavar="DIR", type=sweep_folder,
                        help="a sweep folder (letterlab sweep --out DIR) for the report's 'how far can we go' section")


def sweep_folder(text: str) -> Path:
    """--sweep's folder, refused while parsing the command line (before any training) unless it
    holds a sweep.json."""
    if not (Path(text) / "sweep.json").is_file():
        raise argparse.ArgumentTypeError(f"{text}: not a sweep folder (no sweep.json)")
    return Path(text)


def parse_presets(text: str | None) -> list[str]:
    from letterlab.errors import ConfigError

    if not text:
        return list(HOMEWORK_PRESETS)
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in PRESET_NAMES]
    if unknown or not names:
        raise ConfigError(f"--presets: unknown preset {unknown[0] if unknown else text!r} (known: {', '.join(PRESET_NAMES)})")
    return list(dict.fromkeys(names))


def run_reproduce(args) -> int:
    import letterlab

    started = time.perf_counter()
    report = letterlab.reproduce(args.data, out=args.out, presets=parse_presets(args.presets), profile=args.profile,
                                 seeds=args.seeds, faithful=args.faithful, force=args.force, device=args.device,
                                 progress=False if args.no_progress else None, sweep=args.sweep, announce=print)
    print(f"done in {time.perf_counter() - started:.0f} s: {report.summary}, {report.markdown}, {report.html}")
    print(f"curves of every run: tensorboard --logdir {report.path}")
    return 0


def run_report(args) -> int:
    import letterlab

    report = letterlab.report(args.out, args.sweep)
    print(f"wrote {report.summary}, {report.markdown}, {report.html}")
    return 0
