"""`letterlab train`, `evaluate`, `predict` and `summary`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from letterlab.models.presets import PRESETS

PRESET_NAMES = list(PRESETS)


def register(subparsers) -> None:
    train = subparsers.add_parser("train", help="train a preset or a config file into a run folder",
                                  description="Train a model. Writes config, metrics, TensorBoard events, checkpoint, "
                                              "weights and test results into a run folder.")
    source = train.add_mutually_exclusive_group(required=True)
    source.add_argument("--preset", choices=PRESET_NAMES, help="one of the homework's six experiments")
    source.add_argument("--config", metavar="FILE", help="a TOML file: optional `preset`, [model] and [train] tables")
    source.add_argument("--resume", metavar="RUN", help="continue an interrupted run from its last checkpoint")
    add_data_argument(train)
    train.add_argument("--out", metavar="DIR", help="run folder (default runs/<preset>-<time>)")
    train.add_argument("--epochs", type=int, help="override the number of epochs")
    train.add_argument("--lr", type=float, help="override the learning rate")
    train.add_argument("--batch-size", type=int, help="override the batch size")
    train.add_argument("--seed", type=int, help="seed of initialisation, batch order and dropout (default 0)")
    train.add_argument("--seeds", type=int, metavar="N", help="train N runs, seeds SEED..SEED+N-1, into DIR/seed<k>; "
                                                               "the seeds of an MLP are trained together as one stacked model")
    train.add_argument("--batch-order", choices=["shuffle", "random"])
    train.add_argument("--precision", choices=["fp32", "bf16"], help="bf16 autocast where the CPU/GPU supports it")
    train.add_argument("--double-softmax", action="store_true", help="reproduce the homework's bug: softmax applied twice")
    add_device_argument(train)
    train.add_argument("--probes", action="store_true", help="log probe images' feature maps, predictions and saliency, "
                                                             "and the filter grid, to TensorBoard every epoch")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(func=run_train)

    evaluate = subparsers.add_parser("evaluate", help="accuracy, confusion matrix and per-class scores of a run",
                                     description="Evaluate a trained run on every image at PATH (the test part of a course "
                                                 "folder), or on the run's own test split when --data is not given.")
    evaluate.add_argument("run", metavar="RUN", nargs="+", help="run folder; several: their averaged prediction (an ensemble)")
    evaluate.add_argument("--tta", action="store_true", help="test-time augmentation: average over shifted and scaled views")
    evaluate.add_argument("--data", metavar="PATH", help="data to evaluate on (any format `letterlab data info` reads)")
    evaluate.add_argument("--json", action="store_true", help="print JSON: accuracy, n, loss, confusion, per_class")
    add_device_argument(evaluate)
    evaluate.set_defaults(func=run_evaluate)

    predict = subparsers.add_parser("predict", help="letters and probabilities for image files",
                                    description="Classify PNG/JPEG images. Any size or colour is converted to 28x28 grayscale; "
                                                "letterlab expects a white letter on black (use --invert for dark on light).")
    predict.add_argument("run", metavar="RUN")
    predict.add_argument("images", metavar="IMAGE", nargs="+")
    predict.add_argument("--top-k", type=int, default=3)
    predict.add_argument("--invert", action="store_true", help="the images are dark letters on a light background")
    predict.add_argument("--json", action="store_true")
    add_device_argument(predict)
    predict.set_defaults(func=run_predict)

    summary = subparsers.add_parser("summary", help="layers, output shapes and parameter counts of a model",
                                    description="Keras-style summary of a preset, a config file or a run's model.")
    which = summary.add_mutually_exclusive_group(required=True)
    which.add_argument("--preset", choices=PRESET_NAMES)
    which.add_argument("--config", metavar="FILE")
    which.add_argument("--run", metavar="RUN")
    summary.set_defaults(func=run_summary)


def add_data_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", metavar="PATH", help="course folder (train.data/test.data), A-J folder, .tar.gz, idx, "
                                                       ".npz; default: the embedded font-rendered letters")


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="default: CUDA when available, else CPU")


OVERRIDES = ("epochs", "lr", "batch_size", "seed", "batch_order", "precision")


def resolve_config(args):
    """RunConfig from --preset or --config plus command-line overrides; errors name the file and key."""
    from letterlab.config import load_toml, merge, run_from_dict
    from letterlab.errors import ConfigError
    from letterlab.models.presets import preset_dict

    values = preset_dict(args.preset) if args.preset else {}
    if args.config:
        from_file = load_toml(args.config)
        for table in ("model", "train"):
            if not isinstance(from_file.get(table, {}), dict):
                raise ConfigError(f"{args.config}: {table}: expected a table, got {from_file[table]!r}")
        try:
            values = merge(preset_dict(str(from_file["preset"])) if "preset" in from_file else {}, from_file)
        except ConfigError as error:
            raise ConfigError(f"{args.config}: preset: {error}") from None
    overrides = {key: getattr(args, key) for key in OVERRIDES if getattr(args, key, None) is not None}
    if getattr(args, "double_softmax", False):
        overrides["loss"] = "double_softmax"
    if getattr(args, "probes", False):
        overrides["log_probes"] = True
    values = merge(values, {"train": overrides})
    if getattr(args, "data", None):
        values["data"] = args.data
    if values.get("data"):  # saved absolute, so the run folder works from any directory
        values["data"] = str(Path(values["data"]).resolve())
    extra = values.get("train", {}).get("extra_train")
    if extra and extra != "embedded":
        values = merge(values, {"train": {"extra_train": str(Path(extra).resolve())}})
    return run_from_dict(values, where=args.config or "command line")


def run_train(args) -> int:
    from letterlab.evaluation.run_results import train_and_evaluate

    if args.resume:
        from letterlab.errors import ConfigError
        from letterlab.training.checkpoint import checkpoint_info
        from letterlab.training.run_folder import read_config

        given = [f"--{key.replace('_', '-')}" for key in OVERRIDES + ("data", "out", "double_softmax", "probes", "seeds")
                 if getattr(args, key) not in (None, False)]
        if given:
            raise ConfigError(f"--resume continues {args.resume} with its saved config; {given[0]} cannot be combined with it")
        run_dir, config = Path(args.resume), read_config(Path(args.resume))
        checkpoint_info(run_dir)  # refuse a missing or tampered checkpoint before loading any data
    else:
        from letterlab.training.run_folder import new_run_dir

        config = resolve_config(args)
        run_dir = new_run_dir(args.out, config.preset)
    if args.seeds:
        return run_train_seeds(config, run_dir, args)
    print(f"run folder: {run_dir}", flush=True)
    results = train_and_evaluate(config, run_dir, args.device, resume=bool(args.resume),
                                 progress=False if args.no_progress else None, announce=print)
    print(results["text"])
    return 0


def run_train_seeds(config, out: Path, args) -> int:
    """`train --seeds N`: one run folder per seed under `out`; MLP seeds trained together."""
    import dataclasses

    from letterlab.errors import ConfigError
    from letterlab.evaluation.run_results import train_and_evaluate, train_seeds_and_evaluate
    from letterlab.training.stacked import can_stack

    if args.seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {args.seeds}")
    configs = [dataclasses.replace(config, train=dataclasses.replace(config.train, seed=config.train.seed + k)) for k in range(args.seeds)]
    run_dirs = [out / f"seed{c.train.seed}" for c in configs]
    for run_dir in run_dirs:
        run_dir.mkdir()
    print(f"run folders: {', '.join(map(str, run_dirs))}", flush=True)
    if can_stack(configs):
        all_results = train_seeds_and_evaluate(configs, run_dirs, args.device, announce=print)
    else:
        all_results = [train_and_evaluate(c, d, args.device, progress=False if args.no_progress else None, announce=print)
                       for c, d in zip(configs, run_dirs)]
    accuracies = [r["test_accuracy"] for r in all_results]
    for run_dir, accuracy in zip(run_dirs, accuracies):
        print(f"{run_dir}: test accuracy {accuracy:.4f}")
    mean, spread = sum(accuracies) / len(accuracies), (max(accuracies) - min(accuracies)) / 2
    print(f"mean test accuracy over {len(accuracies)} seeds: {mean:.4f} (range ± {spread:.4f})")
    return 0


def run_evaluate(args) -> int:
    from letterlab.evaluation.run_results import evaluate_run

    if len(args.run) > 1 or args.tta:
        from letterlab.evaluation.ensemble import score_ensemble
        from letterlab.evaluation.run_results import evaluation_data
        from letterlab.models.inputs import pick_device

        runs = [Path(run) for run in args.run]
        results = score_ensemble(runs, evaluation_data(runs[0], args.data), pick_device(args.device), args.tta)
    else:
        results = evaluate_run(Path(args.run[0]), args.data, args.device)
    print(json.dumps({k: v for k, v in results.items() if k != "text"}, indent=2) if args.json else results["text"])
    return 0


def run_predict(args) -> int:
    from letterlab.evaluation.predict_files import predict_files

    rows = predict_files(Path(args.run), args.images, top_k=args.top_k, invert=args.invert, device_name=args.device)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            print(f"{row['image']}: " + ", ".join(f"{p['letter']} {p['probability']:.3f}" for p in row["top"]))
    return 0


def run_summary(args) -> int:
    from letterlab.models.build import build_model
    from letterlab.models.summary import format_summary

    if args.run:
        from letterlab.training.run_folder import read_config

        config, title = read_config(Path(args.run)), args.run
    else:
        config = resolve_config(argparse.Namespace(**vars(args), data=None))
        title = config.preset or args.config
    print(format_summary(build_model(config.model), title))
    return 0
