"""One entry point for every data source: `load_data(source)` picks the loader from the path (or reads a
known data set by name, or renders the embedded set), and names the classes when asked (--classes)."""

from __future__ import annotations

from pathlib import Path

from letterlab.data.dataset import LoadedData, check_class_names
from letterlab.errors import DataError

SUPPORTED_FORMATS = (
    "a course folder (train.data, test.data), a .data/.pkl/.pickle file, "
    "a folder of class subfolders of PNGs, a .tar.gz/.tgz of one, "
    "an MNIST idx file (...-images-idx3-ubyte[.gz]) or a folder of them, a .npz with 'images' and 'labels', "
    "a known data set's name (letterlab data download --help) or embedded[:letters=A-Z][,system-fonts]"
)
PICKLE_SUFFIXES = (".data", ".pkl", ".pickle")


def load_data(path: str | Path | None, *, seed: int = 0, classes: str | list[str] | tuple[str, ...] | None = None) -> LoadedData:
    """Load images from `path` in any supported format, a known data set's name (as downloaded) or an
    `embedded[:options]` source; None or "" is the embedded default set. `classes` names the classes (a list,
    or text for `parse_class_names`), whatever the source says."""
    loaded = _load_source(path, seed)
    if classes:
        names = parse_class_names(classes) if isinstance(classes, str) else check_class_names(classes, "--classes")
        loaded = loaded.with_classes(names)
    return loaded


def _load_source(path: str | Path | None, seed: int) -> LoadedData:
    from letterlab.data.embedded import is_embedded, load_embedded, parse_embedded

    if path is None or str(path) == "" or is_embedded(str(path)):
        return load_embedded(seed=seed, options=parse_embedded(str(path or "")))
    path = Path(path)
    if not path.exists():
        from letterlab.data.known_datasets import KNOWN_DATASETS, data_home

        known = KNOWN_DATASETS.get(str(path))
        if known is None:
            raise DataError(path, "no such file or folder")
        stored = data_home() / known.load
        if not stored.exists():
            raise DataError(path, f"not downloaded yet (looked in {stored}); run: letterlab data download {known.name}")
        loaded = loader_for(stored)(stored)
        return loaded.with_classes(known.classes) if known.classes else loaded
    return loader_for(path)(path)


def parse_class_names(text: str) -> tuple[str, ...]:
    """--classes: a file of names, one a line (blank lines ignored), or names separated by commas."""
    path = Path(text)
    if path.is_file():
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise DataError(path, f"cannot read class names: {error}") from None
        return check_class_names([line for line in lines if line.strip()], str(path))
    return check_class_names(text.split(","), f"--classes {text}")


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
