"""A pickle reader that only rebuilds numpy arrays and plain containers, and the course-format writer."""

from __future__ import annotations

import builtins
import codecs
import io
import pickle
from pathlib import Path

import numpy as np

from letterlab.errors import DataError


def _numpy_callables() -> dict[str, object]:
    """The functions this numpy itself uses to pickle arrays and scalars (names differ between numpy 1 and 2)."""
    reconstruct = np.zeros(1).__reduce__()[0]
    scalar = np.float32(0).__reduce__()[0]
    frombuffer = np.zeros(1).__reduce_ex__(5)[0]
    allowed = {"numpy.ndarray": np.ndarray, "numpy.dtype": np.dtype}
    for package in ("numpy.core", "numpy._core"):
        allowed[f"{package}.multiarray._reconstruct"] = reconstruct
        allowed[f"{package}.multiarray.scalar"] = scalar
        allowed[f"{package}.numeric._frombuffer"] = frombuffer  # protocol 5 arrays
    return allowed


_CONTAINERS = {name: getattr(builtins, name)
               for name in ("list", "dict", "tuple", "set", "frozenset", "bytearray", "complex")}
ALLOWED_GLOBALS = {
    **_numpy_callables(),
    **{f"builtins.{name}": value for name, value in _CONTAINERS.items()},
    **{f"__builtin__.{name}": value for name, value in _CONTAINERS.items()},  # protocol 0-2 spelling
    "_codecs.encode": codecs.encode,  # protocol 0-2 pickles store array bytes through it
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Refuses every global that is not in ALLOWED_GLOBALS, so a payload never gets a callable to run."""

    def __init__(self, file, source: str):
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str):
        allowed = ALLOWED_GLOBALS.get(f"{module}.{name}")
        if allowed is None:
            raise DataError(self.source, f"refused to unpickle {module}.{name}: "
                                         "only numpy arrays, lists, dicts and scalars are allowed")
        return allowed


def safe_load_pickle(path: str | Path):
    """Unpickle `path` allowing only numpy arrays, lists, dicts and scalars; DataError for anything else."""
    try:
        payload = Path(path).read_bytes()
    except OSError as error:
        raise DataError(path, f"cannot read: {error.strerror or error}") from None
    if not payload:
        raise DataError(path, "file is empty")
    try:
        return _RestrictedUnpickler(io.BytesIO(payload), str(path)).load()
    except DataError:
        raise
    except Exception as error:  # a corrupt pickle can raise almost anything; none of it may escape raw
        raise DataError(path, f"not a readable pickle ({type(error).__name__}: {error})") from None


def save_course_pickle(path: str | Path, images: np.ndarray, labels: np.ndarray, classes, named: bool = False) -> None:
    """Write the course format: dict 'data' uint8 (N,28,28), 'labels' one-hot float32 (N, len(classes)) and,
    when `named`, 'classes' (a list of the names); protocol 4."""
    one_hot = np.zeros((len(labels), len(classes)), dtype=np.float32)
    one_hot[np.arange(len(labels)), labels] = 1.0
    record = {"data": np.ascontiguousarray(images, dtype=np.uint8), "labels": one_hot}
    if named:
        record["classes"] = list(classes)
    with open(path, "wb") as handle:
        pickle.dump(record, handle, protocol=4)
