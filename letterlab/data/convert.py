"""Write loaded letter images in another format; never overwrites silently, every file written atomically."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from letterlab.errors import DataError

if TYPE_CHECKING:  # numpy-based modules load only when a conversion runs, keeping `letterlab --help` fast
    from letterlab.data.dataset import LetterImages, LoadedData

FORMATS = ("course", "npz", "idx", "folder")
TEST_FRACTION = 0.2  # held out for the course format's test.data when the source has no test part


def convert(source: str | Path, to: str, out: str | Path, *, force: bool = False, classes=None) -> list[Path]:
    """Load `source` (any format load_data reads; `classes` names its classes) and write it to `out` as `to`;
    returns the paths written."""
    from letterlab.data.registry import load_data

    return write_data(load_data(source, classes=classes), to, out, force=force)


def write_data(data: LoadedData, to: str, out: str | Path, *, force: bool = False) -> list[Path]:
    """Write the train part (and test part, if any) of `data` to `out` in format `to` (one of FORMATS)."""
    writers = {"course": _write_course, "npz": _write_npz, "idx": _write_idx, "folder": _write_folder}
    if to not in writers:
        raise DataError(out, f"unknown output format {to!r}; choose one of {', '.join(FORMATS)}")
    return writers[to](data, Path(out), force)


def _write_course(data: LoadedData, out: Path, force: bool) -> list[Path]:
    from letterlab.data.safe_pickle import save_course_pickle
    from letterlab.data.split import stratified_split

    train, test = data.train, data.test
    if test is None:
        keep, held = stratified_split(train.labels, TEST_FRACTION, seed=0)
        train, test = train.subset(keep), train.subset(held)
    targets = _file_targets(out, ["train.data", "test.data"], force)
    for target, part in zip(targets, (train, test)):
        _write_atomically([target], lambda paths, part=part: save_course_pickle(paths[0], part.images, part.labels,
                                                                                          part.classes, part.named))
    return targets


def _write_npz(data: LoadedData, out: Path, force: bool) -> list[Path]:
    from letterlab.data.npz import save_npz

    _refuse_existing(out, force)
    _write_atomically([out], lambda paths: save_npz(paths[0], data.train, data.test))
    return [out]


def _write_idx(data: LoadedData, out: Path, force: bool) -> list[Path]:
    from letterlab.data.idx import TEST_PREFIX, TRAIN_PREFIX, save_idx

    parts = [(TRAIN_PREFIX, data.train)] + ([(TEST_PREFIX, data.test)] if data.test is not None else [])
    names = [f"{prefix}-{kind}-ubyte.gz" for prefix, _ in parts for kind in ("images-idx3", "labels-idx1")]
    targets = _file_targets(out, names, force)
    for (_, part), pair in zip(parts, (targets[0:2], targets[2:4])):
        _write_atomically(pair, lambda paths, part=part: save_idx(paths[0], paths[1], part.images, part.labels))
    return targets


def _write_folder(data: LoadedData, out: Path, force: bool) -> list[Path]:
    """out/<class>/ (A..J unless named otherwise), or out/train/<class>/ and out/test/<class>/; built beside
    `out`, then renamed into place."""
    from letterlab.data.folder import save_folder

    if out.exists():
        if not out.is_dir():
            raise DataError(out, "exists and is not a folder")
        if any(out.iterdir()) and not force:
            raise DataError(out, "folder already exists and is not empty; use --force to replace it")
        if not _only_pngs(out):
            raise DataError(out, "refusing to replace a folder that holds files other than PNG images")
    parts: list[tuple[Path, LetterImages]] = [(Path(), data.train)]
    if data.test is not None:
        parts = [(Path("train"), data.train), (Path("test"), data.test)]
    temporary, old = _sibling(out, "tmp"), _sibling(out, "old")
    try:
        for relative, part in parts:
            save_folder(temporary / relative, part.images, part.labels, part.classes)
        if out.exists():
            os.replace(out, old)
        os.replace(temporary, out)
    except OSError as error:
        raise DataError(out, f"cannot write: {error.strerror or error}") from None
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return [out / relative for relative, _ in parts]


def _file_targets(out: Path, names: list[str], force: bool) -> list[Path]:
    """The files to write in folder `out`, refusing existing ones unless forced."""
    if out.exists() and not out.is_dir():
        raise DataError(out, "exists and is not a folder")
    targets = [out / name for name in names]
    for target in targets:
        _refuse_existing(target, force)
    return targets


def _refuse_existing(target: Path, force: bool) -> None:
    """DataError for a folder where a file will go, or an existing file unless `force`."""
    if target.is_dir():
        raise DataError(target, "is a folder, expected a file name")
    if target.exists() and not force:
        raise DataError(target, "already exists; use --force to overwrite")


def _write_atomically(targets: list[Path], write: Callable[[list[Path]], None]) -> None:
    """Call `write` with temporary names beside `targets` (same suffixes), then rename each into place.
    The parent folder is created if needed."""
    temporaries = [_sibling(target, "tmp") for target in targets]
    try:
        targets[0].parent.mkdir(parents=True, exist_ok=True)
        write(temporaries)
        for temporary, target in zip(temporaries, targets):
            os.replace(temporary, target)
    except OSError as error:
        raise DataError(targets[0], f"cannot write: {error.strerror or error}") from None
    finally:
        for temporary in temporaries:
            temporary.unlink(missing_ok=True)


def _sibling(path: Path, tag: str) -> Path:
    """A hidden name beside `path` ending like it, so writers that look at the suffix (.gz) still see it."""
    return path.with_name(f".{tag}-{os.getpid()}-{path.name}")


def _only_pngs(folder: Path) -> bool:
    return all(path.is_dir() or path.name.lower().endswith(".png") for path in folder.rglob("*"))
