"""The one in-memory form every loader returns: uint8 images (N, 28, 28), int64 labels 0..K-1 and the
names of the K classes (A..J unless the source names them)."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

import numpy as np

from letterlab import IMAGE_SIZE, LETTERS
from letterlab.errors import DataError

MAX_CLASSES = 1000  # "a few hundred" classes and then some; more is surely a mistake (labels that are ids)


def unnamed_classes(count: int) -> tuple[str, ...]:
    """Names for a source that has none: ten classes are the letters A-J (notMNIST also comes as idx
    files), any other count is named "0".."K-1"."""
    return tuple(LETTERS) if count == len(LETTERS) else tuple(str(i) for i in range(count))


def check_class_names(names, source: str) -> tuple[str, ...]:
    """`names` as a tuple of distinct, non-empty strings, 2 to MAX_CLASSES of them; DataError otherwise."""
    names = tuple(str(name).strip() for name in names)
    if not 2 <= len(names) <= MAX_CLASSES:
        raise DataError(source, f"needs 2 to {MAX_CLASSES} class names, got {len(names)}")
    if any(not name for name in names):
        raise DataError(source, "class names must not be empty")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise DataError(source, f"class name {repeated[0]!r} appears more than once")
    return names


@dataclass(frozen=True)
class LetterImages:
    """A set of letter images. `images` uint8 (N, 28, 28), white glyph on black; `labels` int64 (N,),
    indices into `classes`, the class names. `named`: the names came from the source (folder names,
    an npz's or pickle's `classes`, --classes) rather than from `unnamed_classes`. `fonts`: each image's
    font (a str array, N) where the source names them, for font-grouped splits; `font_source` says where
    the names come from."""

    images: np.ndarray
    labels: np.ndarray
    source: str = "<memory>"
    skipped: int = 0  # files that could not be read and were left out
    classes: tuple[str, ...] = tuple(LETTERS)
    named: bool = False
    fonts: np.ndarray | None = None
    font_source: str = ""

    def __post_init__(self):
        if self.images.dtype != np.uint8 or self.images.ndim != 3 or self.images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise DataError(self.source, f"images must be uint8 (N, 28, 28), got {self.images.dtype} {self.images.shape}")
        if self.labels.ndim != 1 or len(self.labels) != len(self.images):
            raise DataError(self.source, f"{len(self.images)} images but labels of shape {self.labels.shape}")
        object.__setattr__(self, "classes", check_class_names(self.classes, self.source))
        if len(self.labels) and (self.labels.min() < 0 or self.labels.max() >= len(self.classes)):
            raise DataError(self.source, f"labels must be in 0..{len(self.classes) - 1} ({len(self.classes)} classes), "
                                         f"found {self.labels.min()}..{self.labels.max()}")
        if self.fonts is not None and self.fonts.shape != self.labels.shape:
            raise DataError(self.source, f"{len(self.labels)} images but font names of shape {self.fonts.shape}")

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:  # not the arrays' contents
        return f"LetterImages({len(self)} images, source={self.source!r}" + (f", skipped={self.skipped})" if self.skipped else ")")

    def subset(self, index: np.ndarray) -> LetterImages:
        fonts = self.fonts[index] if self.fonts is not None else None
        return LetterImages(self.images[index], self.labels[index], self.source, classes=self.classes, named=self.named,
                            fonts=fonts, font_source=self.font_source)

    def with_classes(self, classes, named: bool = True) -> LetterImages:
        """The same images and labels with the classes called `classes`."""
        return dataclasses.replace(self, classes=tuple(classes), named=named)

    def with_fonts(self, fonts: np.ndarray, font_source: str) -> LetterImages:
        """The same images with each image's font named (`fonts`, N strings) and where the names come from."""
        return dataclasses.replace(self, fonts=np.asarray(fonts, dtype=str), font_source=font_source)

    @staticmethod
    def joined(parts: list[LetterImages], source: str) -> LetterImages:
        """The parts' images one after the other, as one set named `source` (the parts' classes must agree)."""
        first = parts[0]
        for part in parts[1:]:
            if part.classes != first.classes:
                raise DataError(part.source, f"{classes_text(part.classes)} differ from {first.source}'s {classes_text(first.classes)}")
        named_fonts = all(p.fonts is not None for p in parts)
        fonts = np.concatenate([p.fonts for p in parts]) if named_fonts else None
        font_source = "; ".join(dict.fromkeys(p.font_source for p in parts)) if named_fonts else ""
        return LetterImages(np.concatenate([p.images for p in parts]), np.concatenate([p.labels for p in parts]), source,
                            classes=first.classes, named=any(p.named for p in parts), fonts=fonts, font_source=font_source)


def classes_text(classes) -> str:
    """Class names for one-line messages: up to 12 in full, else the first 10 and the count."""
    names = list(classes)
    shown = ", ".join(names) if len(names) <= 12 else ", ".join(names[:10]) + f", ... ({len(names)} in all)"
    return f"classes [{shown}]"


def as_classes(images: LetterImages, classes: tuple[str, ...], owner: str) -> LetterImages:
    """`images` read with `owner`'s classes (a run's): unnamed images whose labels fit take these names,
    named ones must have exactly these; DataError naming both otherwise, never a silent relabelling."""
    classes = tuple(classes)
    if images.classes == classes:
        return images
    if images.named:
        raise DataError(images.source, f"{classes_text(images.classes)} differ from {owner}'s {classes_text(classes)}")
    if len(images) and images.labels.max() >= len(classes):
        raise DataError(images.source, f"labels go up to {images.labels.max()}, but {owner} has {len(classes)} classes "
                                       f"({classes_text(classes)})")
    return images.with_classes(classes, named=False)


def unnamed_count(labels: np.ndarray) -> int:
    """The class count of unnamed labels: one past the largest label, and at least ten (labels 0..9 are
    A-J, as letterlab has always read them)."""
    return max(len(LETTERS), int(labels.max()) + 1 if len(labels) else 0)


@dataclass(frozen=True)
class LoadedData:
    """What a source holds: training images and, for sources that have one (the course format), a test part."""

    train: LetterImages
    test: LetterImages | None = None

    def __post_init__(self):
        """Both parts get the same classes: unnamed parts the larger count of the two; named ones must agree."""
        if self.test is None or self.test.classes == self.train.classes:
            return
        if self.train.named or self.test.named:
            raise DataError(self.test.source, f"{classes_text(self.test.classes)} differ from the training part's "
                                              f"{classes_text(self.train.classes)}")
        classes = unnamed_classes(max(len(self.train.classes), len(self.test.classes)))
        object.__setattr__(self, "train", self.train.with_classes(classes, named=False))
        object.__setattr__(self, "test", self.test.with_classes(classes, named=False))

    @property
    def classes(self) -> tuple[str, ...]:
        return self.train.classes

    def with_classes(self, classes, named: bool = True) -> LoadedData:
        """Both parts with the classes called `classes`."""
        test = self.test.with_classes(classes, named) if self.test is not None else None
        return LoadedData(self.train.with_classes(classes, named), test)


@dataclass(frozen=True)
class DataSplits:
    """Train / validation / test parts used by one run."""

    train: LetterImages
    val: LetterImages
    test: LetterImages

    @property
    def classes(self) -> tuple[str, ...]:
        return self.train.classes

    def fingerprint(self) -> str:
        """SHA-256 over the images and labels of train, validation and test, in order (the run's data hash)."""
        digest = hashlib.sha256()
        for part in (self.train, self.val, self.test):
            digest.update(np.ascontiguousarray(part.images).tobytes())
            digest.update(part.labels.astype(np.int64).tobytes())
        return digest.hexdigest()
