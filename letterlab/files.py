"""Safe file writing: atomic replace (temp file, fsync, rename) so a crash never leaves half a file,
and append-only files measured at a checkpoint and rewound to those sizes on resume."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from letterlab.errors import LetterlabError


def write_atomic(path: Path, write: Callable[[Path], None], before_replace: Callable[[Path], None] | None = None) -> None:
    """Call `write(temp_path)`, fsync, call `before_replace(temp_path)` if given, then atomically move
    the finished file to `path`.

    On a write error (disk full, read-only disk) the temp file is removed, `path` keeps its previous
    content and a LetterlabError names the file."""
    path = Path(path)
    temp = None
    try:
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        os.chmod(temp, 0o644)  # mkstemp makes owner-only files; run folders are meant to be shared
        write(Path(temp))
        with open(temp, "rb") as handle:
            os.fsync(handle.fileno())
        if before_replace:
            before_replace(Path(temp))
        os.replace(temp, path)
    except BaseException as error:
        if temp:
            Path(temp).unlink(missing_ok=True)
        if isinstance(error, OSError):
            kept = "; its previous version is kept" if path.exists() else ""
            raise LetterlabError(f"{path}: cannot write ({error.strerror or error}){kept}") from error
        raise


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, lambda temp: temp.write_text(text))


def write_json_atomic(path: Path, value: Any) -> None:
    write_text_atomic(path, json.dumps(value, indent=2, sort_keys=True) + "\n")


def _matching(folder: Path, patterns: tuple[str, ...]) -> list[Path]:
    return sorted({path for pattern in patterns for path in Path(folder).glob(pattern)})


def file_sizes(folder: Path, patterns: tuple[str, ...]) -> dict[str, int]:
    """Byte size of every file in `folder` matching `patterns`, after making sure it is on disk."""
    sizes = {}
    for path in _matching(folder, patterns):
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
        sizes[path.name] = path.stat().st_size
    return sizes


def rewind_files(folder: Path, patterns: tuple[str, ...], sizes: dict[str, int]) -> None:
    """Cut every append-only file matching `patterns` back to its size in `sizes`; delete those not in
    it. Whatever a killed run appended after its last checkpoint disappears, so nothing is duplicated."""
    for path in _matching(folder, patterns):
        if path.name not in sizes:
            path.unlink()
        elif path.stat().st_size > sizes[path.name]:
            os.truncate(path, sizes[path.name])
