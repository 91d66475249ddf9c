"""`letterlab train`, `evaluate`, `predict` and `summary`."""

from __future__ import annotations

import argparse
import json

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
    train.add_argument("--classes", metavar="NAMES", help="names for the data's classes, in label order: comma-separated "
                                                          "(cat,dog) or a file with one name a line; default: the data's own")
    train.add_argument("--out", metavar="DIR", help="run folder (default runs/<preset>-<time>)")
    train.add_argument("--epochs", type=int, help="override the number of epochs")
    train.add_argument("--lr", type=float, help="override the learning rate")
    train.add_argument("--batch-size", type=int, help="override the batch size")
    train.add_argument("--seed", type=int, help="seed of initialisation, batch order and dropout (default 0)")
    train.add_argument("--seeds", type=int, metavar="N", help="train N runs, seeds SEED..SEED+N-1, into DIR/seed<k>; "
                                                               "the seeds of an MLP are trained together as one stacked model")
    train.add_argument("--batch-order", choices=["shuffle", "random"])
    train.add_argument("--precision", choices=["fp32", "bf16"], help="bf16 autocast: faster on a CPU/GPU with bf16 units "
                       "(AVX512-BF16, AMX; GPUs from Ampere on), emulated and far slower elsewhere (a warning says so)")
    train.add_argument("--double-softmax", action="store_true", help="reproduce the homework's bug: softmax applied twice")
    add_device_argument(train)
    train.add_argument("--probes", action="store_true", help="log probe images' feature maps, predictions and saliency, "
                                                             "and the filter grid, to TensorBoard every epoch")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(func=run_train)

    evaluate = subparsers.add_parser("evaluate", help="accuracy, confusion matrix and per-class scores of a run",
                                     description="Evaluate a trained run on every image at PATH (the test part of a course "
                                                 "folder), or on the run's own test split when --data is not given.")
    evaluate.add_argument("run", metavar="RUN", nargs="+", help="run folder or exported .onnx file; several runs: their averaged "
                                                                "prediction (an ensemble)")
    evaluate.add_argument("--tta", action="store_true", help="test-time augmentation: average over shifted and scaled views")
    evaluate.add_argument("--data", metavar="PATH", help="data to evaluate on (any format `letterlab data info` reads)")
    evaluate.add_argument("--json", action="store_true", help="print JSON: accuracy, n, loss, confusion, per_class")
    add_device_argument(evaluate)
    evaluate.set_defaults(func=run_evaluate)

    predict = subparsers.add_parser("predict", help="letters and probabilities for image files",
                                    description="Classify PNG/JPEG images. Any size or colour is converted to 28x28 grayscale; "
                                                "letterlab expects a white letter on black (use --invert for dark on light).")
    predict.add_argument("run", metavar="RUN", help="run folder or exported .onnx file")
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
    parser.add_argument("--data", metavar="PATH", help="course folder (train.data/test.data), folder of class folders, "
                                                       ".tar.gz, idx, .npz, a known data set (mnist, emnist-letters, ...: "
                                                       "letterlab data download --help) or embedded[:letters=A-Z][,system-fonts]; "
                                                       "default: the embedded letters A-J rendered from matplotlib's fonts")


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="default: CUDA when available, else CPU")


OVERRIDES = ("epochs", "lr", "batch_size", "seed", "batch_order", "precision")


def overrides_from(args) -> dict:
    """The config fields set on the command line."""
    overrides = {key: getattr(args, key) for key in OVERRIDES if getattr(args, key, None) is not None}
    if getattr(args, "double_softmax", False):
        overrides["loss"] = "double_softmax"
    if getattr(args, "probes", False):
        overrides["log_probes"] = True
    if getattr(args, "classes", None):
        overrides["classes"] = args.classes
    return overrides


def run_train(args) -> int:
    import letterlab
    from letterlab.cli.format import results_text

    progress = False if args.no_progress else None
    if args.resume:
        from letterlab.errors import ConfigError

        given = [f"--{key.replace('_', '-')}" for key in OVERRIDES + ("data", "classes", "out", "double_softmax", "probes", "seeds")
                 if getattr(args, key) not in (None, False)]
        if given:
            raise ConfigError(f"--resume continues {args.resume} with its saved config; {given[0]} cannot be combined with it")
        run = letterlab.load_run(args.resume, args.device)
        print(f"run folder: {run.path}", flush=True)
        print(results_text(run.resume(progress=progress).results))
        return 0
    source = args.preset or args.config
    if args.seeds is not None:
        runs = letterlab.train_seeds(source, args.seeds, args.data, out=args.out, device=args.device, progress=progress,
                                     announce=print, **overrides_from(args))
        accuracies = [run.results.test_accuracy for run in runs]
        for run, accuracy in zip(runs, accuracies):
            print(f"{run.path}: test accuracy {accuracy:.4f}")
        mean, spread = sum(accuracies) / len(accuracies), (max(accuracies) - min(accuracies)) / 2
        print(f"mean test accuracy over {len(accuracies)} seeds: {mean:.4f} (range ± {spread:.4f})")
        return 0
    config = letterlab.config(source, args.data, **overrides_from(args))
    from letterlab.runs import new_run_dir

    run_dir = new_run_dir(args.out, config.preset)
    print(f"run folder: {run_dir}", flush=True)
    run = letterlab.train(config, out=run_dir, device=args.device, progress=progress, announce=print)
    print(results_text(run.results))
    return 0


def run_evaluate(args) -> int:
    import letterlab
    from letterlab.cli.format import evaluation_text

    if len(args.run) == 1 and not args.tta:
        model = letterlab.load_model(args.run[0], args.device)  # a run folder or an .onnx file
        evaluation = model.evaluate(args.data)
        print(json.dumps(evaluation.to_dict(), indent=2) if args.json else evaluation_text(evaluation))
        return 0
    from letterlab.evaluation.ensemble import TTA_VIEWS

    runs = [letterlab.load_run(run, args.device) for run in args.run]
    evaluation = letterlab.evaluate_ensemble(runs, args.data, tta=args.tta, device=args.device)
    if args.json:
        print(json.dumps(evaluation.to_dict() | {"runs": [str(run.path) for run in runs], "tta": args.tta}, indent=2))
    else:
        how = f"{len(runs)} run{'s' if len(runs) > 1 else ''}" + (f", TTA over {len(TTA_VIEWS)} views" if args.tta else "")
        print(evaluation_text(evaluation, f"; {how}"))
    return 0


def run_predict(args) -> int:
    import letterlab
    from letterlab.cli.format import top_k_records, top_k_text

    model = letterlab.load_model(args.run, args.device)
    probabilities = model.predict(args.images, invert=args.invert)
    k = max(1, min(args.top_k, probabilities.shape[1]))
    if args.json:
        print(json.dumps([top_k_records(name, row, k, model.classes) for name, row in zip(args.images, probabilities)], indent=2))
    else:
        for name, row in zip(args.images, probabilities):
            print(top_k_text(name, row, k, model.classes))
    return 0


def run_summary(args) -> int:
    import letterlab
    from letterlab.cli.format import layers_text

    if args.run:
        run = letterlab.load_run(args.run, "cpu")
        print(layers_text(run.layers(), args.run))
        return 0
    config = letterlab.config(args.preset or args.config)
    print(layers_text(letterlab.summary(config), config.preset or args.config))
    return 0
