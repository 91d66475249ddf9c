"""Turn loosely-typed image/label arrays (course pickles, .npz) into a checked LetterImages."""

from __future__ import annotations

import numpy as np

from letterlab import IMAGE_SIZE
from letterlab.data.dataset import LetterImages, check_class_names, unnamed_classes, unnamed_count
from letterlab.errors import DataError

PIXELS = IMAGE_SIZE * IMAGE_SIZE


def to_letter_images(images, labels, source: str, classes=None) -> LetterImages:
    """Normalise `images` ((N,28,28), (N,784) or (N,28,28,1); uint8, or float in [0,1], [-0.5,0.5] or [0,255])
    and `labels` (integers 0..K-1 or one-hot (N, K)) into a LetterImages; DataError naming `source` otherwise.
    `classes`: the source's class names (a sequence of strings), or None for unnamed classes."""
    pixels = _to_uint8_images(images, source)
    targets, one_hot_width = _to_class_labels(labels, source)
    if len(pixels) != len(targets):
        raise DataError(source, f"{len(pixels)} images but {len(targets)} labels")
    if classes is None:
        return LetterImages(pixels, targets, source, classes=unnamed_classes(one_hot_width or unnamed_count(targets)))
    names = class_names_from_array(classes, source)
    if one_hot_width and one_hot_width != len(names):
        raise DataError(source, f"one-hot labels of width {one_hot_width} but {len(names)} class names")
    return LetterImages(pixels, targets, source, classes=names, named=True)


def class_names_from_array(classes, source: str) -> tuple[str, ...]:
    """A stored `classes` entry (a 1-D array or list of strings) as checked class names."""
    array = np.asarray(classes)
    if array.ndim != 1 or array.dtype.kind not in "UO":
        raise DataError(source, f"'classes' must be a list of names (strings), got {array.dtype} of shape {array.shape}")
    if any(not isinstance(name, str) for name in array.tolist()):
        raise DataError(source, "'classes' must hold only strings")
    return check_class_names(array.tolist(), source)


def _to_uint8_images(images, source: str) -> np.ndarray:
    if not isinstance(images, np.ndarray):
        raise DataError(source, f"images must be a numpy array, got {type(images).__name__}")
    shape = images.shape
    if images.ndim == 2 and shape[1] == PIXELS:
        images = images.reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
    elif images.ndim == 4 and shape[1:] == (IMAGE_SIZE, IMAGE_SIZE, 1):
        images = images[..., 0]
    elif images.ndim != 3 or shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise DataError(source, f"images must have shape (N, 28, 28), (N, 784) or (N, 28, 28, 1), got {shape}")
    if len(images) == 0:
        raise DataError(source, "contains no images")
    if images.dtype == np.uint8:
        return np.ascontiguousarray(images)
    if images.dtype.kind in "iu":
        low, high = int(images.min()), int(images.max())
        if low < 0 or high > 255:
            raise DataError(source, f"integer pixels must be in 0..255, found {low}..{high}")
        return images.astype(np.uint8)
    if images.dtype.kind != "f":
        raise DataError(source, f"pixels must be uint8 or float, got {images.dtype}")
    if not np.isfinite(images).all():
        raise DataError(source, "pixels contain NaN or inf")
    return _scale_float(images.astype(np.float64), source)


def _scale_float(images: np.ndarray, source: str) -> np.ndarray:
    """Detect the float range ([0,1], [-0.5,0.5] or [0,255]) and round to uint8 0..255."""
    low, high = float(images.min()), float(images.max())
    if low >= 0.0 and high <= 1.0:
        scaled = images * 255.0
    elif low >= -0.5 and high <= 0.5:
        scaled = (images + 0.5) * 255.0
    elif low >= 0.0 and high <= 255.0:
        scaled = images
    else:
        raise DataError(source, f"float pixels must be in [0, 1], [-0.5, 0.5] or [0, 255], found {low:g}..{high:g}")
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _to_class_labels(labels, source: str) -> tuple[np.ndarray, int | None]:
    """Integer labels (N,), and the width K of one-hot labels (None for integer labels)."""
    if not isinstance(labels, np.ndarray):
        try:
            labels = np.asarray(labels)
        except (TypeError, ValueError) as error:
            raise DataError(source, f"labels are not an array: {error}") from None
    if labels.dtype.kind not in "iubf":
        raise DataError(source, f"labels must be integers or one-hot numbers, got {labels.dtype}")
    if labels.ndim == 2 and labels.shape[1] >= 2:
        return _from_one_hot(labels, source), labels.shape[1]
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise DataError(source, f"labels must have shape (N,) or one-hot (N, K), got {labels.shape}")
    if labels.dtype.kind == "f":
        if not np.isfinite(labels).all() or (labels != np.round(labels)).any():
            raise DataError(source, "float labels must be whole numbers 0..K-1")
    if len(labels) and labels.min() < 0:
        raise DataError(source, f"labels must be 0 or more, found {labels.min():g}")
    return labels.astype(np.int64), None


def _from_one_hot(labels: np.ndarray, source: str) -> np.ndarray:
    values = labels.astype(np.float64)
    is_binary = (values == 0) | (values == 1)
    bad_rows = np.flatnonzero(~is_binary.all(axis=1) | (values.sum(axis=1) != 1))
    if len(bad_rows):
        raise DataError(source, f"one-hot labels: {len(bad_rows)} rows are not a single 1 among 0s (first: row {bad_rows[0]})")
    return values.argmax(axis=1).astype(np.int64)
