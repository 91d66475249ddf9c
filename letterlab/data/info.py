"""What a data source holds: its classes, counts per class, shape, pixel range, exact duplicates, skipped files, fonts."""

from __future__ import annotations

import hashlib

import numpy as np

from letterlab.data.dataset import LetterImages, LoadedData


def image_hashes(images: np.ndarray) -> list[bytes]:
    """A digest of each image's bytes: equal digests mean identical images."""
    return [hashlib.blake2b(image.tobytes(), digest_size=16).digest() for image in images]


def data_info(data: LoadedData) -> dict:
    """A JSON-ready summary of each part and of the overlap between train and test."""
    parts = {"train": data.train} if data.test is None else {"train": data.train, "test": data.test}
    hashes = {name: image_hashes(part.images) for name, part in parts.items()}
    summary = {"parts": {name: _part_info(part, hashes[name]) for name, part in parts.items()}}
    if data.test is not None:
        train_set = set(hashes["train"])
        summary["test_images_also_in_train"] = sum(digest in train_set for digest in hashes["test"])
    return summary


def _part_info(part: LetterImages, hashes: list[bytes]) -> dict:
    counts = np.bincount(part.labels, minlength=len(part.classes))
    return {
        "source": part.source,
        "images": len(part),
        "shape": list(part.images.shape),
        "classes": list(part.classes),
        "classes_named_by": "the source" if part.named else "default (unnamed: ten are A-J, others 0..K-1)",
        "per_class": {name: int(count) for name, count in zip(part.classes, counts)},
        "pixel_min": int(part.images.min()) if len(part) else None,
        "pixel_max": int(part.images.max()) if len(part) else None,
        "duplicates": len(hashes) - len(set(hashes)),  # images that repeat an earlier one exactly
        "skipped": part.skipped,
        "fonts": None if part.fonts is None else len(set(part.fonts.tolist())),  # for val_split = "font"
        "fonts_named_by": part.font_source or None,
    }
