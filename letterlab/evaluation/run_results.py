"""Train-then-test for the CLI, and `evaluate` of a finished run: results printed and saved."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

import numpy as np

from letterlab.config import RunConfig
from letterlab.data.dataset import DataSplits, LetterImages, LoadedData
from letterlab.evaluation.epoch_hooks import DEFAULT_EPOCH_HOOKS
from letterlab.evaluation.probes import probes_per_epoch
from letterlab.evaluation.metrics import format_confusion, format_per_class
from letterlab.evaluation.trained import load_trained, score
from letterlab.models.inputs import pick_device
from letterlab.training.files import write_json_atomic, write_text_atomic
from letterlab.errors import LetterlabError
from letterlab.training.run_folder import ENVIRONMENT, RESULTS, data_fingerprint, read_config, read_json
from letterlab.training.writers import METRICS, TIMING, read_jsonl


def load_splits(config: RunConfig) -> DataSplits:
    """The run's train/val/test parts, exactly as made from its data source, seed and fractions."""
    from letterlab.data.registry import load_data
    from letterlab.data.split import make_splits

    t = config.train
    splits = make_splits(load_data(config.data or None, seed=t.data_seed), t.val_fraction, t.test_fraction, t.data_seed)
    if t.extra_train:
        splits = with_extra_training(splits, load_data(None if t.extra_train == "embedded" else t.extra_train, seed=t.data_seed))
    if t.clean_train != "none":
        splits = with_clean_training(splits, near=t.clean_train == "near")
    return splits


def with_extra_training(splits: DataSplits, extra: LoadedData) -> DataSplits:
    """`splits` with the images of `extra` (its test part too) appended to the training part, except
    exact copies of a test, validation or training image (so the main source itself adds nothing)."""
    from letterlab.data.check import drop_duplicates

    parts = [extra.train] + ([extra.test] if extra.test is not None else [])
    pooled = LetterImages.joined(parts, extra.train.source)
    added = drop_duplicates({"test": splits.test, "val": splits.val, "train": splits.train, "extra": pooled})["extra"]
    train = LetterImages.joined([splits.train, added], f"{splits.train.source} + {extra.train.source}")
    return DataSplits(train=train, val=splits.val, test=splits.test)


def with_clean_training(splits: DataSplits, near: bool) -> DataSplits:
    """`splits` whose training part lost its exact duplicates, copies of validation or test images
    and images with conflicting labels, and with `near` also both images of each near-duplicate
    pair with different labels (validation and test untouched)."""
    from letterlab.data.check import drop_duplicates, near_pairs

    train = drop_duplicates({"test": splits.test, "val": splits.val, "train": splits.train})["train"]
    if near:
        pairs = near_pairs(train.images)
        suspects = np.unique(pairs[train.labels[pairs[:, 0]] != train.labels[pairs[:, 1]]])
        train = train.subset(np.setdiff1d(np.arange(len(train)), suspects))
    return DataSplits(train=train, val=splits.val, test=splits.test)


def load_run_splits(run_dir: Path, config: RunConfig) -> DataSplits:
    """`load_splits` for an existing run, refusing data that differs from what the run was trained
    on (another file at the same path, or an embedded default rendered from other fonts)."""
    splits = load_splits(config)
    recorded = read_json(Path(run_dir) / ENVIRONMENT).get("data", {}).get("sha256")
    if recorded and recorded != data_fingerprint(splits):
        raise LetterlabError(f"{run_dir}: the data ({splits.train.source}) is not what this run was trained on "
                             "(its SHA-256 differs from environment.json); pass --data PATH to evaluate on other data")
    return splits


def epoch_hooks(config: RunConfig, extra_hooks=()) -> tuple:
    """The evaluation-layer hooks every run gets: confusion matrix each epoch, and probes if asked."""
    return DEFAULT_EPOCH_HOOKS + ((probes_per_epoch,) if config.train.log_probes else ()) + tuple(extra_hooks)


def train_and_evaluate(config: RunConfig, run_dir: Path, device_name: str = "auto", *, resume: bool = False,
                       progress: bool | None = None, extra_hooks=(), announce: Callable[[str], None] = lambda _: None) -> dict:
    """Train into `run_dir`, then score the test part; writes results.json and confusion.txt."""
    from letterlab.training.session import train_run

    device = pick_device(device_name)
    splits = load_run_splits(run_dir, config) if resume else load_splits(config)
    announce(f"data: {splits.train.source}: train {len(splits.train)}, validation {len(splits.val)}, test {len(splits.test)}")
    state = train_run(config, run_dir, splits, device, resume=resume, progress=progress, extra_hooks=epoch_hooks(config, extra_hooks))
    return write_results(config, run_dir, state.model, splits, device)


def train_seeds_and_evaluate(configs: list[RunConfig], run_dirs: list[Path], device_name: str = "auto",
                             announce: Callable[[str], None] = lambda _: None) -> list[dict]:
    """Runs that differ only in seed, trained together (`training.stacked`), each then scored on its
    test part like `train_and_evaluate`."""
    from letterlab.training.stacked import train_stacked

    device = pick_device(device_name)
    splits = load_splits(configs[0])  # the seeds differ only in `seed`, not in their data
    announce(f"data: {splits.train.source}: train {len(splits.train)}, validation {len(splits.val)}, "
             f"test {len(splits.test)}; {len(configs)} seeds trained together")
    models = train_stacked(configs, run_dirs, splits, device, extra_hooks=epoch_hooks(configs[0]))
    return [write_results(config, run_dir, model, splits, device) for config, run_dir, model in zip(configs, run_dirs, models)]


def write_results(config: RunConfig, run_dir: Path, model, splits: DataSplits, device) -> dict:
    """Score the trained model on the test part; write results.json and confusion.txt from it and
    the run's metrics and timing files."""
    test = score(model, splits.test, device, config.train.precision, config.train.loss)
    metrics, timing = read_jsonl(run_dir / METRICS), read_jsonl(run_dir / TIMING)
    last = metrics[-1] if metrics else {}
    seconds = [t["seconds"] for t in timing]
    results = {
        "preset": config.preset, "epochs": last.get("epoch", 0), "steps": last.get("last_step", 0),
        "train_loss": last.get("train_loss"), "train_accuracy": last.get("train_accuracy"),
        "val_loss": last.get("val_loss"), "val_accuracy": last.get("val_accuracy"),
        "test_loss": test["loss"], "test_accuracy": test["accuracy"], "test_n": test["n"],
        "train_seconds": float(sum(seconds)), "seconds_per_epoch": float(np.median(seconds)) if seconds else None,
        "confusion": test["confusion"], "per_class": test["per_class"],
    }
    write_json_atomic(run_dir / RESULTS, results)
    write_text_atomic(run_dir / "confusion.txt", format_confusion(np.array(test["confusion"])) + "\n")
    return {**results, "text": _describe(results, test)}


def evaluation_data(run_dir: Path, data_path: str | None) -> LetterImages:
    """The images a run is judged on: everything at `data_path` (a course folder: its test part),
    or the run's own test split. The source names the split, so ids from the two never mix."""
    from letterlab.data.registry import load_data

    if data_path:
        loaded = load_data(data_path)
        return loaded.test if loaded.test is not None else loaded.train
    test = load_run_splits(run_dir, read_config(Path(run_dir))).test
    return dataclasses.replace(test, source=f"{test.source} [run test split]")


def evaluate_run(run_dir: Path, data_path: str | None, device_name: str = "auto") -> dict:
    """Score a finished run on `evaluation_data(run_dir, data_path)`."""
    device = pick_device(device_name)
    config, model = load_trained(run_dir, device)
    data = evaluation_data(run_dir, data_path)
    result = score(model, data, device, config.train.precision, config.train.loss)
    return {**result, "text": _describe({"test_accuracy": result["accuracy"], "test_n": result["n"]}, result)}


def _describe(results: dict, test: dict) -> str:
    lines = [f"test accuracy: {results['test_accuracy']:.4f} on {results['test_n']} images ({test['source']})"]
    if results.get("seconds_per_epoch"):
        lines.insert(0, f"trained {results['epochs']} epochs in {results['train_seconds']:.1f} s "
                        f"({results['seconds_per_epoch']:.2f} s per epoch); " + (
                            "no validation part" if np.isnan(results["val_accuracy"]) else f"final validation accuracy {results['val_accuracy']:.4f}"))
    lines += ["", "confusion matrix (rows: true letter, columns: predicted):", format_confusion(np.array(test["confusion"])),
              "", format_per_class(test["per_class"])]
    return "\n".join(lines)


