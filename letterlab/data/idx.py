"""MNIST idx files (gzipped or not): `...-images-idx3-ubyte[.gz]` with its `...-labels-idx1-ubyte[.gz]` beside it.

idx files hold no class names: ten classes are A-J, others "0".."K-1" (`dataset.unnamed_classes`). Files named
as EMNIST names its letters (`emnist-letters-train-images-idx3-ubyte.gz`, ...) are read as EMNIST letters: the
images transposed back upright (EMNIST stores them transposed relative to MNIST), labels 1..26 as A..Z."""

from __future__ import annotations

import gzip
import re
import struct
import zlib
from pathlib import Path

import numpy as np

from letterlab import IMAGE_SIZE
from letterlab.data.arrays import to_letter_images
from letterlab.data.dataset import LetterImages, LoadedData
from letterlab.errors import DataError

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension
IDX_NAME = re.compile(r"idx[13]-ubyte(\.gz)?$", re.IGNORECASE)
# Names convert writes and an idx folder is read by: train part and, if present, test part.
TRAIN_PREFIX, TEST_PREFIX = "train", "t10k"
EMNIST_LETTERS_PREFIX = "emnist-letters-"  # EMNIST's own names: emnist-letters-{train,test}-images-idx3-ubyte.gz
EMNIST_LETTERS = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def is_idx_file(path: Path) -> bool:
    return bool(IDX_NAME.search(path.name))


def find_idx_images(folder: Path, prefix: str) -> Path | None:
    """`{prefix}-images-idx3-ubyte` (or .gz) in `folder`, if there; for the test prefix also EMNIST's
    `emnist-letters-test-images-idx3-ubyte`, and for the train prefix `emnist-letters-train-...`."""
    emnist = EMNIST_LETTERS_PREFIX + ("test" if prefix == TEST_PREFIX else prefix)
    for stem in (prefix, emnist):
        for name in (f"{stem}-images-idx3-ubyte.gz", f"{stem}-images-idx3-ubyte"):
            if (folder / name).is_file():
                return folder / name
    return None


def load_idx(path: str | Path) -> LoadedData:
    """Load an idx images file (or its labels file) together with its partner."""
    path = Path(path)
    if path.is_dir():
        return _load_idx_folder(path)
    images_path, labels_path = idx_pair(path)
    return LoadedData(train=load_idx_pair(images_path, labels_path))


def idx_pair(path: Path) -> tuple[Path, Path]:
    """(images, labels) paths for either member of the pair: 'images' <-> 'labels', 'idx3' <-> 'idx1'."""
    name = path.name
    if "images" in name and "idx3" in name:
        return path, path.with_name(name.replace("images", "labels").replace("idx3", "idx1"))
    if "labels" in name and "idx1" in name:
        return path.with_name(name.replace("labels", "images").replace("idx1", "idx3")), path
    raise DataError(path, "idx file names must contain 'images'+'idx3' or 'labels'+'idx1' to find the pair")


def load_idx_pair(images_path: Path, labels_path: Path) -> LetterImages:
    """Read and check both files; the labels must match the images one for one."""
    if not images_path.is_file():
        raise DataError(images_path, "no such file (the images file of this idx pair)")
    images = _read_idx(images_path, IMAGES_MAGIC, "images")
    if not labels_path.is_file():
        raise DataError(labels_path, "no such file (the labels file of this idx pair)")
    labels = _read_idx(labels_path, LABELS_MAGIC, "labels")
    if len(images) != len(labels):
        raise DataError(labels_path, f"{len(labels)} labels but {images_path.name} has {len(images)} images")
    if images_path.name.lower().startswith(EMNIST_LETTERS_PREFIX):
        return _emnist_letters(images, labels, str(images_path))
    return to_letter_images(images, labels, str(images_path))


def _emnist_letters(images: np.ndarray, labels: np.ndarray, source: str) -> LetterImages:
    """EMNIST letters: each image transposed back upright, labels 1..26 to 0..25 = A..Z."""
    if len(labels) and (labels.min() < 1 or labels.max() > len(EMNIST_LETTERS)):
        raise DataError(source, f"EMNIST letters labels must be 1..26, found {labels.min()}..{labels.max()}")
    upright = np.ascontiguousarray(images.transpose(0, 2, 1))
    return to_letter_images(upright, labels.astype(np.int64) - 1, source, EMNIST_LETTERS)


def _load_idx_folder(folder: Path) -> LoadedData:
    train_images = find_idx_images(folder, TRAIN_PREFIX)
    if train_images is None:
        raise DataError(folder, f"no {TRAIN_PREFIX}-images-idx3-ubyte[.gz] in this folder")
    test_images = find_idx_images(folder, TEST_PREFIX)
    test = load_idx_pair(*idx_pair(test_images)) if test_images else None
    return LoadedData(train=load_idx_pair(*idx_pair(train_images)), test=test)


def check_idx_file(path: Path, name: str) -> int:
    """The number of items in the idx file at `path` whose name (images or labels) is `name`; DataError if it
    does not read as one."""
    images = "images" in name and "idx3" in name
    return len(_read_idx(path, IMAGES_MAGIC if images else LABELS_MAGIC, "images" if images else "labels"))


def _read_idx(path: Path, magic: int, kind: str) -> np.ndarray:
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DataError(path, f"too short for an idx file ({len(raw)} bytes)")
    (found,) = struct.unpack(">I", raw[:4])
    if found != magic:
        raise DataError(path, f"wrong magic number 0x{found:08x} for idx {kind} (expected 0x{magic:08x})")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(path, f"truncated header: {len(raw)} bytes, need {header}")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    if kind == "images" and dims[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise DataError(path, f"images must be 28x28, found {dims[1]}x{dims[2]}")
    expected = int(np.prod(dims))
    body = len(raw) - header
    if body < expected:
        raise DataError(path, f"truncated: header says {dims[0]} {kind} ({expected} bytes), found {body} bytes")
    if body > expected:
        raise DataError(path, f"{body - expected} unexpected bytes after the {dims[0]} {kind} the header declares")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _read_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(path, f"cannot read ({type(error).__name__}: {error})") from None


def save_idx(images_path: str | Path, labels_path: str | Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Write an idx pair (labels as bytes: up to 256 classes); a name ending in .gz is gzipped."""
    if len(labels) and int(np.max(labels)) > 255:
        raise DataError(labels_path, "idx label files hold bytes: 256 classes at most")
    images = np.ascontiguousarray(images, dtype=np.uint8)
    count = len(images)
    _write(Path(images_path), struct.pack(">IIII", IMAGES_MAGIC, count, IMAGE_SIZE, IMAGE_SIZE) + images.tobytes())
    _write(Path(labels_path), struct.pack(">II", LABELS_MAGIC, count) + np.asarray(labels, np.uint8).tobytes())


def _write(path: Path, payload: bytes) -> None:
    path.write_bytes(gzip.compress(payload, mtime=0) if path.name.endswith(".gz") else payload)
