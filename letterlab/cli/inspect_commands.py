"""`letterlab inspect`, `compare` and `calibrate`. Heavy imports happen in the handlers."""

from __future__ import annotations

import json

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


def run_inspect(args) -> int:
    import letterlab
    from letterlab.errors import LetterlabError

    if not (args.filters or args.maps or args.saliency):
        raise LetterlabError("inspect: say what to draw: --filters, --maps IMAGE_INDEX... or --saliency IMAGE_INDEX...")
    run = letterlab.load_run(args.run, args.device)
    for path in run.inspect(filters=args.filters, layer=args.layer, maps=args.maps, saliency=args.saliency, data=args.data):
        print(f"wrote {path}")
    return 0


def run_compare(args) -> int:
    import letterlab
    from letterlab.cli.format import comparison_text

    result = letterlab.compare(args.run_a, args.run_b, args.data, device=args.device)
    print(json.dumps(result.to_dict(), indent=2) if args.json else comparison_text(result))
    return 0


def run_calibrate(args) -> int:
    import letterlab
    from letterlab.cli.format import calibration_text

    result = letterlab.load_run(args.run, args.device).calibrate(args.data)
    print(json.dumps(result.to_dict(), indent=2) if args.json else calibration_text(result))
    return 0
