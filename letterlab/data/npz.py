"""NumPy .npz archives: arrays 'images' and 'labels' (optionally 'test_images' and 'test_labels'; 'classes':
the class names, strings, label i = classes[i]; 'font' (and 'test_font'): each image's font name, for
font-grouped splits); never pickle."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from letterlab.data.arrays import to_letter_images
from letterlab.data.dataset import LetterImages, LoadedData
from letterlab.errors import DataError


def load_npz(path: str | Path) -> LoadedData:
    """Load 'images' and 'labels' (other arrays ignored, except a 'test_images'/'test_labels' pair and 'classes')."""
    path = Path(path)
    names, arrays = _read_arrays(path)
    missing = [key for key in ("images", "labels") if key not in arrays]
    if missing:
        found = ", ".join(names) or "no arrays"
        raise DataError(path, f"lacks array {' and '.join(repr(m) for m in missing)} (found {found})")
    classes = arrays.get("classes")
    train = _with_fonts(to_letter_images(arrays["images"], arrays["labels"], str(path), classes), arrays.get("font"))
    test = None
    if "test_images" in arrays and "test_labels" in arrays:
        test = to_letter_images(arrays["test_images"], arrays["test_labels"], f"{path} (test part)", classes)
        test = _with_fonts(test, arrays.get("test_font"))
    return LoadedData(train=train, test=test)


def _with_fonts(images: LetterImages, fonts: np.ndarray | None) -> LetterImages:
    """`images` with the archive's font names, when it has them (strings, one per image)."""
    if fonts is None:
        return images
    if fonts.dtype.kind != "U" or fonts.shape != images.labels.shape:
        raise DataError(images.source, f"font names must be {len(images)} strings, got {fonts.dtype} of shape {fonts.shape}")
    return images.with_fonts(fonts, "the archive's font array")


def _read_arrays(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """All array names in the archive, and the arrays this loader uses."""
    wanted = ("images", "labels", "test_images", "test_labels", "classes", "font", "test_font")
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise DataError(path, "is a single .npy array, not an .npz archive with 'images' and 'labels'")
        with archive:
            return archive.files, {name: archive[name] for name in archive.files if name in wanted}
    except DataError:
        raise
    except Exception as error:  # zip, header or pickle refusals: report them all as one line
        raise DataError(path, f"not a readable .npz archive ({type(error).__name__}: {error})") from None


def save_npz(path: str | Path, train: LetterImages, test: LetterImages | None = None) -> None:
    """Write a compressed .npz with 'images', 'labels' (uint8, or uint16 past 256 classes), 'classes' when the
    source named them, 'font' when it named fonts and, when given, 'test_images', 'test_labels' (and 'test_font')."""
    label_type = np.uint8 if len(train.classes) <= 256 else np.uint16
    arrays = {"images": train.images, "labels": train.labels.astype(label_type)}
    if train.named:
        arrays["classes"] = np.array(train.classes)
    if train.fonts is not None:
        arrays["font"] = train.fonts
    if test is not None:
        arrays.update(test_images=test.images, test_labels=test.labels.astype(label_type))
        if test.fonts is not None:
            arrays["test_font"] = test.fonts
    with open(path, "wb") as handle:  # a file object, so numpy does not append '.npz' to the name
        np.savez_compressed(handle, **arrays)
