"""One entry point for every data format: `load_data(path)` picks the loader from the path."""

from __future__ import annotations

from pathlib import Path

from letterlab.data.dataset import LoadedData
from letterlab.errors import DataError

SUPPORTED_FORMATS = (
    "a course folder (train.data, test.data), a .data/.pkl/.pickle file, "
    "a folder of A-J subfolders of PNGs, a .tar.gz/.tgz of one, "
    "an MNIST idx file (...-images-idx3-ubyte[.gz]) or a folder of them, a .npz with 'images' and 'labels'"
)
PICKLE_SUFFIXES = (".data", ".pkl", ".pickle")


def load_data(path: str | Path | None, *, seed: int = 0) -> LoadedData:
    """Load letter images from `path` in any supported format; None means the embedded default set."""
    if path is None:
        from letterlab.data.embedded import load_embedded

        return load_embedded(seed=seed)
    path = Path(path)
    if not path.exists():
        raise DataError(path, "no such file or folder")
    return loader_for(path)(path)


def loader_for(path: Path):
    """The loader function for an existing `path`; DataError listing the supported formats if none fits."""
    from letterlab.data import course, folder, idx, npz

    name = path.name.lower()
    if path.is_dir():
        if course.is_course_folder(path):
            return course.load_course
        if idx.find_idx_images(path, idx.TRAIN_PREFIX):
            return idx.load_idx
        return folder.load_folder
    if name.endswith(PICKLE_SUFFIXES):
        return course.load_course
    if folder.is_tar_archive(path):
        return folder.load_folder
    if idx.is_idx_file(path):
        return idx.load_idx
    if name.endswith(".npz"):
        return npz.load_npz
    raise DataError(path, f"unknown data format; supported: {SUPPORTED_FORMATS}")
