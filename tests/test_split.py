"""Splits: disjoint, stratified, seeded, the course test part kept apart, never an empty part."""

import numpy as np
import pytest

from letterlab.data.dataset import LetterImages, LoadedData
from letterlab.data.split import make_splits
from letterlab.errors import DataError


def letters(count_per_class: int, offset: int = 0) -> LetterImages:
    labels = np.repeat(np.arange(10), count_per_class)
    images = np.zeros((len(labels), 28, 28), dtype=np.uint8)
    number = np.arange(offset, offset + len(labels))  # every image unique: its number in two pixels
    images[:, 0, 0], images[:, 0, 1] = number % 256, number // 256
    return LetterImages(images, labels.astype(np.int64), "test")


def ids(part: LetterImages) -> set:
    return {image.tobytes() for image in part.images}


def test_parts_are_disjoint_and_stratified():
    splits = make_splits(LoadedData(letters(50)), val_fraction=0.2, test_fraction=0.2, seed=3)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (320, 80, 100)
    assert not (ids(splits.train) & ids(splits.val)) and not (ids(splits.train) & ids(splits.test)) and not (ids(splits.val) & ids(splits.test))
    for part, share in ((splits.train, 32), (splits.val, 8), (splits.test, 10)):
        assert np.bincount(part.labels, minlength=10).tolist() == [share] * 10


def test_a_test_part_of_its_own_is_kept_whole():
    own_test = letters(5, offset=10_000)
    splits = make_splits(LoadedData(letters(50), own_test), seed=0)
    assert splits.test is own_test and len(splits.train) + len(splits.val) == 500


def test_seed_changes_the_split_and_repeats_it():
    a, b, c = (make_splits(LoadedData(letters(50)), seed=s) for s in (0, 0, 1))
    assert ids(a.val) == ids(b.val) and ids(a.val) != ids(c.val)


def test_too_few_images_is_a_data_error():
    with pytest.raises(DataError, match="too few images"):
        make_splits(LoadedData(letters(2)))
