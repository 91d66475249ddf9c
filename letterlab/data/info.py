"""What a data source holds: counts per letter, shape, pixel range, exact duplicates, skipped files."""

from __future__ import annotations

import hashlib

import numpy as np

from letterlab import LETTERS
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
    counts = np.bincount(part.labels, minlength=len(LETTERS))
    return {
        "source": part.source,
        "images": len(part),
        "shape": list(part.images.shape),
        "per_class": {letter: int(count) for letter, count in zip(LETTERS, counts)},
        "pixel_min": int(part.images.min()) if len(part) else None,
        "pixel_max": int(part.images.max()) if len(part) else None,
        "duplicates": len(hashes) - len(set(hashes)),  # images that repeat an earlier one exactly
        "skipped": part.skipped,
    }


def format_info(summary: dict) -> str:
    """A human-readable table of `data_info`'s summary."""
    parts = summary["parts"]
    names = list(parts)
    rows = [("", *names)]
    rows += [(f"  {letter}", *(str(parts[name]["per_class"][letter]) for name in names)) for letter in LETTERS]
    rows += [
        ("images", *(str(parts[name]["images"]) for name in names)),
        ("shape", *("x".join(map(str, parts[name]["shape"])) for name in names)),
        ("pixels", *(f"{parts[name]['pixel_min']}..{parts[name]['pixel_max']}" for name in names)),
        ("duplicates", *(str(parts[name]["duplicates"]) for name in names)),
        ("skipped files", *(str(parts[name]["skipped"]) for name in names)),
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = [f"{name}: {parts[name]['source']}" for name in names]
    lines += ["  ".join(cell.ljust(width) if column == 0 else cell.rjust(width)
                        for column, (cell, width) in enumerate(zip(row, widths))).rstrip() for row in rows]
    if "test_images_also_in_train" in summary:
        lines.append(f"test images also in train (exact copies): {summary['test_images_also_in_train']}")
    return "\n".join(lines)
