"""`letterlab inspect`, `compare`, `calibrate`, and `data check` (added to the `data` group by
`add_data_check`). Heavy imports happen in the handlers."""

from __future__ import annotations

import json
from pathlib import Path

from letterlab.cli.train_commands import add_device_argument


def register(subparsers) -> None:
    inspect = subparsers.add_parser("inspect", help="filters, feature maps and saliency of a trained run",
                                    description="Draw a run's filters, feature maps or saliency maps into RUN/figures/ "
                                                "and log them to the run's TensorBoard. Image indices refer to the "
                                                "test images (the run's own test split, or --data).")
    inspect.add_argument("run", metavar="RUN")
    inspect.add_argument("--filters", action="store_true", help="the layer's kernels as a grid (MLP: first-layer weights as 28x28 images)")
    inspect.add_argument("--layer", type=int, default=1, help="conv layer number, 1-based (default 1); deeper layers "
                                                              "show each kernel's mean over its input channels")
    inspect.add_argument("--maps", type=int, nargs="+", default=[], metavar="IMAGE_INDEX", help="the layer's output maps for these test images")
    inspect.add_argument("--saliency", type=int, nargs="+", default=[], metavar="IMAGE_INDEX",
                         help="gradient saliency (and Grad-CAM for CNNs) beside these test images")
    inspect.add_argument("--data", metavar="PATH", help="take test images from PATH (its test part, if it has one)")
    add_device_argument(inspect)
    inspect.set_defaults(func=run_inspect)

    compare = subparsers.add_parser("compare", help="two runs' accuracies with 95%% intervals and McNemar's exact test",
                                    description="Score two runs on the same test images: accuracies with Wilson 95% "
                                                "intervals, discordant counts and McNemar's exact p-value.")
    compare.add_argument("run_a", metavar="RUN_A")
    compare.add_argument("run_b", metavar="RUN_B")
    compare.add_argument("--data", metavar="PATH", help="test images (default: the runs' own test split, which must be the same)")
    compare.add_argument("--json", action="store_true")
    add_device_argument(compare)
    compare.set_defaults(func=run_compare)

    calibrate = subparsers.add_parser("calibrate", help="ECE, reliability diagram and temperature scaling of a run",
                                      description="Fit a temperature on the run's validation split; print ECE (15 bins) "
                                                  "and NLL on the test images before and after; write "
                                                  "RUN/calibration.json and RUN/figures/reliability.png.")
    calibrate.add_argument("run", metavar="RUN")
    calibrate.add_argument("--data", metavar="PATH", help="test images (default: the run's own test split)")
    calibrate.add_argument("--json", action="store_true")
    add_device_argument(calibrate)
    calibrate.set_defaults(func=run_calibrate)


def add_data_check(commands) -> None:
    """Add `check` to the `data` group's sub-commands."""
    check = commands.add_parser("check", help="exact and near duplicates, conflicting labels, train/test leaks",
                                description="Find exact duplicates inside each part of PATH (train, test) and between "
                                            "parts and --against, copies with conflicting labels, and with --near "
                                            "near-duplicates. --drop-duplicates writes PATH without them (first copy "
                                            "kept; conflicting-label images and copies of --against images dropped).")
    check.add_argument("path", metavar="PATH")
    check.add_argument("--against", metavar="PATH2", help="a second data set to look for leaks into")
    check.add_argument("--near", action="store_true", help="also find near-duplicates (perceptual hash, then pixel check)")
    check.add_argument("--drop-duplicates", action="store_true", help="write a clean .npz to --out")
    check.add_argument("--out", metavar="FILE", help="the clean .npz (with --drop-duplicates)")
    check.add_argument("--json", action="store_true")
    check.set_defaults(func=run_data_check)


def run_inspect(args) -> int:
    from letterlab.errors import LetterlabError
    from letterlab.evaluation.inspect import inspect_run

    if not (args.filters or args.maps or args.saliency):
        raise LetterlabError("inspect: say what to draw: --filters, --maps IMAGE_INDEX... or --saliency IMAGE_INDEX...")
    for path in inspect_run(Path(args.run), filters=args.filters, layer=args.layer, maps=args.maps, saliency=args.saliency,
                            data_path=args.data, device_name=args.device):
        print(f"wrote {path}")
    return 0


def run_compare(args) -> int:
    from letterlab.evaluation.statistics import compare_runs, format_comparison

    result = compare_runs(Path(args.run_a), Path(args.run_b), args.data, args.device)
    print(json.dumps(result, indent=2) if args.json else format_comparison(result))
    return 0


def run_calibrate(args) -> int:
    from letterlab.evaluation.calibration import calibrate_run, format_calibration

    result = calibrate_run(Path(args.run), args.data, args.device)
    print(json.dumps(result, indent=2) if args.json else format_calibration(result))
    return 0


def run_data_check(args) -> int:
    from letterlab.data.check import check_parts, drop_duplicates, format_check
    from letterlab.data.npz import save_npz
    from letterlab.data.registry import load_data
    from letterlab.errors import LetterlabError

    if args.drop_duplicates and not args.out:
        raise LetterlabError("data check: --drop-duplicates needs --out FILE.npz")
    if args.out and Path(args.out).exists():
        raise LetterlabError(f"{args.out}: already exists; choose another --out")
    loaded = load_data(args.path)
    parts = {"train": loaded.train} if loaded.test is None else {"train": loaded.train, "test": loaded.test}
    reference = {}
    if args.against:
        other = load_data(args.against)
        reference = {"against": other.train} if other.test is None else {"against_train": other.train, "against_test": other.test}
    report = check_parts({**reference, **parts}, near=args.near)
    if args.drop_duplicates:
        clean = drop_duplicates({**reference, **parts})  # reference first: copies of its images are dropped from PATH
        save_npz(args.out, clean["train"], clean.get("test"))
        report["written"] = {"path": args.out, **{name: len(clean[name]) for name in parts}}
    print(json.dumps(report, indent=2) if args.json else format_check(report))
    if args.drop_duplicates and not args.json:
        kept = ", ".join(f"{name} {len(clean[name])} of {len(parts[name])}" for name in parts)
        print(f"wrote {args.out}: {kept} images kept")
    return 0
