"""Font names for a source that has none (the course pickles), looked up by image in a source that has
them (notmnist_small.npz, notMNIST's tar.gz): what font-grouped splits need."""

from __future__ import annotations

import numpy as np

from letterlab.data.dataset import LetterImages, LoadedData
from letterlab.errors import DataError

UNMATCHED = "(unmatched image {})"  # an image not found in the reference is a font of its own


def with_fonts_from(data: LoadedData, reference: LoadedData) -> LoadedData:
    """`data` with each image's font taken from the image with the same pixels in `reference` (either part);
    an image found nowhere there is its own font (so it can be on either side of a split, like a random one)."""
    parts = [reference.train] + ([reference.test] if reference.test is not None else [])
    if any(part.fonts is None for part in parts):
        raise DataError(reference.train.source, "names no fonts, so it cannot lend them to other data "
                                                "(train.fonts_from needs an .npz with a 'font' array or notMNIST's files)")
    font_of = {}
    for part in parts:
        for image, font in zip(part.images, part.fonts):
            font_of.setdefault(image.tobytes(), str(font))
    test = _matched(data.test, font_of, reference.train.source) if data.test is not None else None
    return LoadedData(_matched(data.train, font_of, reference.train.source), test)


def _matched(images: LetterImages, font_of: dict[bytes, str], reference: str) -> LetterImages:
    fonts = [font_of.get(image.tobytes()) for image in images.images]
    found = sum(font is not None for font in fonts)
    names = np.array([font if font is not None else UNMATCHED.format(i) for i, font in enumerate(fonts)], dtype=str)
    return images.with_fonts(names, f"matched by image in {reference} ({found:,} of {len(images):,} images found)")
