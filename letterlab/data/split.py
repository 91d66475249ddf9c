"""Stratified, seeded splits: train/validation (80/20 as in the homework) and, when needed, a test part."""

from __future__ import annotations

import numpy as np

from letterlab.data.dataset import DataSplits, LoadedData
from letterlab.errors import DataError


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


def make_splits(data: LoadedData, val_fraction: float = 0.2, test_fraction: float = 0.2, seed: int = 0) -> DataSplits:
    """Split `data` into train/val/test. A source without a test part gives up `test_fraction` of it first."""
    pool, test = data.train, data.test
    if test is None:
        keep, held = stratified_split(pool.labels, test_fraction, seed)
        pool, test = pool.subset(keep), pool.subset(held)
    keep, held = stratified_split(pool.labels, val_fraction, seed + 1)
    splits = DataSplits(train=pool.subset(keep), val=pool.subset(held), test=test)
    for name, part in (("training", splits.train), ("validation", splits.val), ("test", splits.test)):
        if len(part) == 0 and not (name == "validation" and val_fraction == 0):
            raise DataError(data.train.source, f"too few images ({len(data.train)}) for a {name} part; "
                                               "letterlab needs at least a few images of each letter")
    return splits


