"""`letterlab sweep`: settings and seeds on Ray Tune, on this machine or a cluster."""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    sweep = subparsers.add_parser(
        "sweep", help="train a spec's variants x seeds on Ray Tune (this machine, or a cluster with --address)",
        description="Train every variant of a sweep spec (TOML: base, seeds, data, [overrides], [variants.NAME], [grid], "
                    "[search]; docs/sweeps.md) for every seed, each an ordinary run folder OUT/VARIANT/seedK, on Ray Tune. "
                    "Prints a line per finished trial and the table (validation and test accuracy mean ± sd over seeds, "
                    "McNemar's test against the base), writes OUT/sweep.json and TensorBoard's HParams rows. Running the "
                    "same command again reuses finished trials and resumes interrupted ones.")
    sweep.add_argument("spec", metavar="SPEC", type=Path)
    sweep.add_argument("--out", metavar="DIR", type=Path, help="sweep folder (default runs/sweep-<spec name>)")
    sweep.add_argument("--seeds", type=int, metavar="N", help="seeds 0..N-1 instead of the spec's")
    sweep.add_argument("--folds", type=int, metavar="K",
                       help="cross-validate: K trials per variant and seed, each validating on one fold (by font "
                            "unless the spec says fold_by = \"image\"), OUT/VARIANT/seedS-foldF")
    sweep.add_argument("--address", metavar="ADDR", help="join a Ray cluster: auto, host:port or ray://host:port (default: start Ray here)")
    sweep.add_argument("--max-concurrent", type=int, metavar="K", help="at most K trials at once (default: as resources allow)")
    sweep.add_argument("--cpus-per-trial", type=float, default=1, metavar="C", help="CPUs (and torch threads) per trial (default 1)")
    sweep.add_argument("--gpus-per-trial", type=float, default=0, metavar="G",
                       help="GPUs per trial; fractions share one (0.125: eight trials a GPU); default 0 (CPU)")
    sweep.add_argument("--search", choices=["random", "optuna"], help="draw --trials settings from the spec's [search] ranges")
    sweep.add_argument("--trials", type=int, default=8, metavar="N", help="settings to draw with --search (default 8)")
    sweep.add_argument("--asha", action="store_true", help="stop weak trials early (ASHA on validation accuracy)")
    sweep.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], dest="settings",
                       help="add to the spec's overrides, e.g. --set train.epochs=2 (a TOML value; repeatable)")
    sweep.add_argument("--only", metavar="NAMES", help="run only these variants (comma-separated) beside the base")
    sweep.add_argument("--no-progress", action="store_true", help="no progress bar")
    sweep.set_defaults(func=run_sweep_command)


def parse_settings(items: list[str]) -> dict:
    """--set KEY=VALUE items as {KEY: value}, the value read as TOML (a bare word as a string)."""
    import tomllib

    from letterlab.errors import ConfigError

    settings = {}
    for item in items:
        key, equals, text = item.partition("=")
        if not equals or not key:
            raise ConfigError(f"--set {item}: expected KEY=VALUE, e.g. train.epochs=2")
        try:
            settings[key.strip()] = tomllib.loads(f"value = {text}")["value"]
        except tomllib.TOMLDecodeError:
            settings[key.strip()] = text
    return settings


def run_sweep_command(args) -> int:
    import letterlab
    from letterlab.cli.format import sweep_text

    result = letterlab.sweep(args.spec, out=args.out, seeds=args.seeds, settings=parse_settings(args.settings),
                             only=args.only.split(",") if args.only else None, folds=args.folds, address=args.address, max_concurrent=args.max_concurrent,
                             cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial, search=args.search,
                             trials=args.trials, asha=args.asha, progress=False if args.no_progress else None, announce=print)
    print(sweep_text(result))
    print(f"sweep folder: {result.out} (sweep.json; tensorboard --logdir {result.out} shows every trial, HParams tab included)")
    return 1 if result.unfinished else 0
