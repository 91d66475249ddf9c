"""The one in-memory form every loader returns: uint8 images (N, 28, 28) and int64 labels 0..9 (= A..J)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from letterlab import IMAGE_SIZE, NUM_CLASSES
from letterlab.errors import DataError


@dataclass(frozen=True)
class LetterImages:
    """A set of letter images. `images` uint8 (N, 28, 28), white glyph on black; `labels` int64 (N,)."""

    images: np.ndarray
    labels: np.ndarray
    source: str = "<memory>"
    skipped: int = 0  # files that could not be read and were left out

    def __post_init__(self):
        if self.images.dtype != np.uint8 or self.images.ndim != 3 or self.images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise DataError(self.source, f"images must be uint8 (N, 28, 28), got {self.images.dtype} {self.images.shape}")
        if self.labels.ndim != 1 or len(self.labels) != len(self.images):
            raise DataError(self.source, f"{len(self.images)} images but labels of shape {self.labels.shape}")
        if len(self.labels) and (self.labels.min() < 0 or self.labels.max() >= NUM_CLASSES):
            raise DataError(self.source, f"labels must be in 0..{NUM_CLASSES - 1}, found {self.labels.min()}..{self.labels.max()}")

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:  # not the arrays' contents
        return f"LetterImages({len(self)} images, source={self.source!r}" + (f", skipped={self.skipped})" if self.skipped else ")")

    def subset(self, index: np.ndarray) -> LetterImages:
        return LetterImages(self.images[index], self.labels[index], self.source)

    @staticmethod
    def joined(parts: list[LetterImages], source: str) -> LetterImages:
        """The parts' images one after the other, as one set named `source`."""
        return LetterImages(np.concatenate([p.images for p in parts]), np.concatenate([p.labels for p in parts]), source)


@dataclass(frozen=True)
class LoadedData:
    """What a source holds: training images and, for sources that have one (the course format), a test part."""

    train: LetterImages
    test: LetterImages | None = None


@dataclass(frozen=True)
class DataSplits:
    """Train / validation / test parts used by one run."""

    train: LetterImages
    val: LetterImages
    test: LetterImages

    def fingerprint(self) -> str:
        """SHA-256 over the images and labels of train, validation and test, in order (the run's data hash)."""
        digest = hashlib.sha256()
        for part in (self.train, self.val, self.test):
            digest.update(np.ascontiguousarray(part.images).tobytes())
            digest.update(part.labels.astype(np.int64).tobytes())
        return digest.hexdigest()
