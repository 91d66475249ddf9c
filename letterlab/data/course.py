"""The homework's format: pickled dicts {'data': images, 'labels': one-hot or integers} in train.data / test.data,
optionally with 'classes' (the class names, label i = classes[i])."""

from __future__ import annotations

from pathlib import Path

from letterlab.data.arrays import to_letter_images
from letterlab.data.dataset import LetterImages, LoadedData
from letterlab.data.safe_pickle import safe_load_pickle
from letterlab.errors import DataError

TRAIN_FILE = "train.data"
TEST_FILE = "test.data"


def is_course_folder(path: Path) -> bool:
    """A folder holding train.data or test.data."""
    return (path / TRAIN_FILE).is_file() or (path / TEST_FILE).is_file()


def load_course(path: str | Path) -> LoadedData:
    """Load a course folder (train.data and, if present, test.data) or one .data/.pkl file (as train)."""
    path = Path(path)
    if not path.is_dir():
        return LoadedData(train=load_course_file(path))
    train_path, test_path = path / TRAIN_FILE, path / TEST_FILE
    if not train_path.is_file():
        raise DataError(path, f"has {TEST_FILE} but no {TRAIN_FILE}")
    test = load_course_file(test_path) if test_path.is_file() else None
    return LoadedData(train=load_course_file(train_path), test=test)


def load_course_file(path: str | Path) -> LetterImages:
    """One pickled dict with 'data' and 'labels' (and optionally 'classes')."""
    record = safe_load_pickle(path)
    if not isinstance(record, dict):
        raise DataError(path, f"expected a pickled dict with 'data' and 'labels', got {type(record).__name__}")
    missing = [key for key in ("data", "labels") if key not in record]
    if missing:
        found = ", ".join(repr(key) for key in record) or "nothing"
        raise DataError(path, f"pickled dict lacks {' and '.join(repr(m) for m in missing)} (found {found})")
    return to_letter_images(record["data"], record["labels"], str(path), record.get("classes"))
