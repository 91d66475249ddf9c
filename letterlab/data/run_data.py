"""A run's data: its train/validation/test parts as made from its config (source, split seed and
fractions, extra and cleaned training images), and the images a finished run is judged on."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from letterlab.data.dataset import DataSplits, LetterImages, LoadedData, as_classes, classes_text
from letterlab.data.registry import load_data
from letterlab.data.split import make_splits
from letterlab.errors import LetterlabError
from letterlab.run_config import RunConfig
from letterlab.runs import ENVIRONMENT, read_classes, read_config, read_json


def load_splits(config: RunConfig) -> DataSplits:
    """The run's train/val/test parts, exactly as made from its data source, class names, seed and fractions."""
    t = config.train
    loaded = load_data(config.data or None, seed=t.data_seed, classes=config.classes or None)
    if t.fonts_from:
        from letterlab.data.fonts import with_fonts_from

        loaded = with_fonts_from(loaded, load_data(t.fonts_from))
    splits = make_splits(loaded, t.val_fraction, t.test_fraction, t.data_seed, val_split=t.val_split,
                         test_split=t.test_split, val_folds=t.val_folds, val_fold=t.val_fold)
    if t.extra_train:
        splits = with_extra_training(splits, load_data(t.extra_train, seed=t.data_seed))
    if t.clean_train != "none":
        splits = with_clean_training(splits, near=t.clean_train == "near")
    return splits


def with_extra_training(splits: DataSplits, extra: LoadedData) -> DataSplits:
    """`splits` with the images of `extra` (its test part too) appended to the training part, except
    exact copies of a test, validation or training image (so the main source itself adds nothing)."""
    from letterlab.data.check import drop_duplicates

    parts = [as_classes(part, splits.classes, "the main data") for part in [extra.train] + ([extra.test] if extra.test is not None else [])]
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


def load_run_splits(run_dir: Path, config: RunConfig | None = None) -> DataSplits:
    """`load_splits` for an existing run, refusing data that differs from what the run was trained
    on (another file at the same path, an embedded default rendered from other fonts, other class names)."""
    config = config or read_config(Path(run_dir))
    splits = load_splits(config)
    recorded = read_json(Path(run_dir) / ENVIRONMENT).get("data", {}).get("sha256")
    if recorded and recorded != splits.fingerprint() and not config.data:
        from letterlab.data.embedded import PREFIX, SYSTEM_FONTS

        # Before the embedded default was rendered from matplotlib's fonts only, it took the system's too.
        older = load_splits(dataclasses.replace(config, data=f"{PREFIX}:{SYSTEM_FONTS}"))
        splits = older if older.fingerprint() == recorded else splits
    if recorded and recorded != splits.fingerprint():
        raise LetterlabError(f"{run_dir}: the data ({splits.train.source}) is not what this run was trained on "
                             "(its SHA-256 differs from environment.json); pass --data PATH to evaluate on other data")
    classes = read_classes(Path(run_dir))
    if splits.classes != classes:
        raise LetterlabError(f"{run_dir}: the data ({splits.train.source}) has {classes_text(splits.classes)}, "
                             f"the run was trained on {classes_text(classes)}")
    return splits


def images_at(path: str | Path, classes: tuple[str, ...] | None = None, owner: str = "the run") -> LetterImages:
    """The images a model is judged on at `path`: its test part if it has one, else all of it; with
    `classes` (a run's), read with them (`dataset.as_classes`: unnamed data takes them, named data must match)."""
    loaded = load_data(path)
    images = loaded.test if loaded.test is not None else loaded.train
    return as_classes(images, classes, owner) if classes is not None else images


def evaluation_data(run_dir: Path, data_path: str | Path | None) -> LetterImages:
    """The images a run is judged on: everything at `data_path` (a course folder: its test part) read
    with the run's classes, or the run's own test split. The source names the split, so ids from the two never mix."""
    if data_path:
        return images_at(data_path, read_classes(Path(run_dir)), f"run {run_dir}")
    test = load_run_splits(run_dir).test
    return dataclasses.replace(test, source=f"{test.source} [run test split]")
