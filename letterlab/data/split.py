"""Seeded splits: train/validation (80/20 as in the homework) and, when needed, a test part; by image
(stratified by class) or by font (every font on one side), as one held-out part or as k folds."""

from __future__ import annotations

from typing import Literal

import numpy as np

from letterlab.data.dataset import DataSplits, LetterImages, LoadedData
from letterlab.errors import DataError

SplitKind = Literal["random", "font"]


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (keep, held_out): `fraction` of each class held out, chosen by `seed`. Both sorted."""
    rng = np.random.default_rng(seed)
    held_out = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = int(round(fraction * len(members)))
        held_out.append(rng.permutation(members)[:count])
    held = np.sort(np.concatenate(held_out)) if held_out else np.array([], dtype=np.int64)
    keep = np.setdiff1d(np.arange(len(labels)), held)
    return keep, held


def stratified_folds(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """The fold (0..folds-1) of every image: each class dealt out evenly over the folds in a seeded order."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(labels), dtype=np.int64)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        fold[members] = np.arange(len(members)) % folds
    return fold


def font_folds(fonts: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """The fold (0..folds-1) of every image, every font's images in one fold: the fonts in a seeded order,
    cut into `folds` runs of about equal image counts."""
    names, font_of_image, counts = np.unique(fonts, return_inverse=True, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(names))
    images_before = np.cumsum(counts[order]) - counts[order]  # images of the fonts placed earlier
    fold_of_font = np.empty(len(names), dtype=np.int64)
    fold_of_font[order] = images_before * folds // len(fonts)
    return fold_of_font[font_of_image]


def font_split(fonts: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (keep, held_out): whole fonts held out, in a seeded order, until about `fraction` of the images are."""
    names, font_of_image, counts = np.unique(fonts, return_inverse=True, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(names))
    images_before = np.cumsum(counts[order]) - counts[order]
    held_fonts = order[images_before + counts[order] / 2 <= fraction * len(fonts)]  # a font goes where most of it falls
    held = np.isin(font_of_image, held_fonts)
    return np.flatnonzero(~held), np.flatnonzero(held)


def make_splits(data: LoadedData, val_fraction: float = 0.2, test_fraction: float = 0.2, seed: int = 0, *,
                val_split: SplitKind = "random", test_split: SplitKind = "random", val_folds: int = 0,
                val_fold: int = 0) -> DataSplits:
    """Split `data` into train/val/test. A source without a test part gives up `test_fraction` of it first
    (by image or, `test_split = "font"`, by font). The validation part is `val_fraction` of the rest or, with
    `val_folds` >= 2, fold `val_fold` of that many; by image (stratified) or, `val_split = "font"`, by font."""
    pool, test = data.train, data.test
    if test is None:
        keep, held = (stratified_split(pool.labels, test_fraction, seed) if test_split == "random"
                      else font_split(fonts_of(pool, "test_split"), test_fraction, seed))
        pool, test = pool.subset(keep), pool.subset(held)
    if val_folds >= 2:
        fold = (stratified_folds(pool.labels, val_folds, seed + 1) if val_split == "random"
                else font_folds(fonts_of(pool, "val_split"), val_folds, seed + 1))
        keep, held = np.flatnonzero(fold != val_fold), np.flatnonzero(fold == val_fold)
    elif val_split == "random":
        keep, held = stratified_split(pool.labels, val_fraction, seed + 1)
    else:
        keep, held = font_split(fonts_of(pool, "val_split"), val_fraction, seed + 1)
    splits = DataSplits(train=pool.subset(keep), val=pool.subset(held), test=test)
    for name, part in (("training", splits.train), ("validation", splits.val), ("test", splits.test)):
        if len(part) == 0 and not (name == "validation" and val_fraction == 0 and val_folds < 2):
            raise DataError(data.train.source, f"too few images ({len(data.train)}) for a {name} part; "
                                               "letterlab needs at least a few images of each letter")
    return splits


def fonts_of(images: LetterImages, option: str) -> np.ndarray:
    """The images' font names; DataError saying how to name them when the source does not."""
    if images.fonts is None:
        raise DataError(images.source, f'{option} = "font" needs each image\'s font, and this source names none '
                                       "(fonts come from an .npz 'font' array, notMNIST's base64 file names, the "
                                       "embedded set, or train.fonts_from: a source that has them, matched by image)")
    return images.fonts
