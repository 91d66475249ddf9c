"""The run folder is the contract: every file a run folder holds is named here, with its readers.

Written by training: config.json (resolved config), environment.json (command line, versions, seed,
data hash, the class names: data.classes; a run folder without them is from before letterlab read class
names from the data, and its classes are A-J), metrics.jsonl and timing.jsonl (one line per epoch), the TensorBoard event files,
checkpoint.pt with checkpoint.json (its SHA-256), model.safetensors and probes.npz. Written by
evaluation: results.json and confusion.txt (test scores), errors/ (`letterlab errors`), figures/
(inspection and calibration PNGs), calibration.json, inspection.json (for reports) and review.json
(a person's answers); model.onnx and model.parity.json (`letterlab export`). Reports are rendered
from these files alone."""

from __future__ import annotations

import fcntl
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from letterlab import LETTERS, __version__
from letterlab.errors import LetterlabError
from letterlab.files import write_json_atomic
from letterlab.run_config import RunConfig, run_from_dict, to_dict

CONFIG, ENVIRONMENT, LOCK = "config.json", "environment.json", ".lock"
METRICS, TIMING = "metrics.jsonl", "timing.jsonl"
EVENTS = "events.out.tfevents.*"
APPEND_ONLY = (METRICS, TIMING, EVENTS)  # only ever appended to; a checkpoint records their sizes
CHECKPOINT, CHECKPOINT_INFO, WEIGHTS = "checkpoint.pt", "checkpoint.json", "model.safetensors"
PROBES = "probes.npz"
RESULTS, CONFUSION = "results.json", "confusion.txt"
ERRORS = "errors"  # folder: errors.json and the grids of `letterlab errors`
FIGURES = "figures"  # folder: inspection and calibration PNGs
CALIBRATION, INSPECTION, REVIEW = "calibration.json", "inspection.json", "review.json"
ONNX = "model.onnx"  # `letterlab export`'s default output, with model.parity.json beside it


def new_run_dir(out: str | None, preset: str, root: str = "runs") -> Path:
    """Create a fresh run folder. With `out`, it must not already hold a run; without, a unique
    `runs/<preset>-<time>` is made (mkdir is atomic, so concurrent runs never share a folder)."""
    if out:
        path = Path(out)
        if path.exists() and any(path.iterdir()):
            raise LetterlabError(f"{path}: folder is not empty; use --resume {path} to continue it or choose another --out")
        _make(path, exist_ok=True)
        return path
    stem = Path(root) / f"{preset or 'custom'}-{time.strftime('%Y%m%d-%H%M%S')}"
    for suffix in range(1000):
        path = stem.with_name(stem.name + (f"-{suffix + 1}" if suffix else ""))
        try:
            _make(path, exist_ok=False)
            return path
        except FileExistsError:
            continue
    raise LetterlabError(f"{stem}: could not create a unique run folder")


def _make(path: Path, exist_ok: bool) -> None:
    try:
        path.mkdir(parents=True, exist_ok=exist_ok)
    except FileExistsError:
        raise
    except OSError as error:
        raise LetterlabError(f"{path}: cannot create run folder ({error.strerror})") from None
    check_room(path)


def check_room(run_dir: Path, need_bytes: int = 0) -> None:
    """Fail now, before any training, if `run_dir` cannot be written or has less than `need_bytes` free.
    A real write is tried: permission bits alone say nothing for root or a read-only mount."""
    try:
        with tempfile.TemporaryFile(dir=run_dir, prefix=".write-test"):
            pass
        free = shutil.disk_usage(run_dir).free
    except OSError as error:
        raise LetterlabError(f"{run_dir}: cannot write into the run folder ({error.strerror})") from None
    if free < need_bytes:
        raise LetterlabError(f"{run_dir}: only {free / 2**20:.1f} MiB free on this disk; training needs about "
                             f"{need_bytes / 2**20:.1f} MiB for checkpoints and logs")


class RunLock:
    """An exclusive lock on a run folder for as long as a process trains into it. The lock is held
    by the kernel (flock), so it goes away with the process however it dies."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / LOCK

    def __enter__(self):
        self.handle = open(self.path, "a")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.close()
            raise LetterlabError(f"{self.path.parent}: another letterlab process is training into this run folder") from None
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def write_run_description(run_dir: Path, config: RunConfig, splits, device: str) -> None:
    """config.json and environment.json of a new run; `splits` is its DataSplits."""
    import torch

    write_json_atomic(run_dir / CONFIG, to_dict(config))
    write_json_atomic(run_dir / ENVIRONMENT, {
        "command": sys.argv, "letterlab": __version__, "python": platform.python_version(),
        "torch": torch.__version__, "numpy": np.__version__, "platform": platform.platform(),
        "device": device, "threads": torch.get_num_threads(), "seed": config.train.seed,
        "data": {"source": splits.train.source, "sha256": splits.fingerprint(),
                 "train": len(splits.train), "val": len(splits.val), "test": len(splits.test),
                 "classes": list(splits.classes), "fonts": _font_record(splits)},
    })


def _font_record(splits) -> dict | None:
    """Where the fonts of a run's images come from and how many each part has (None when the source names none)."""
    if splits.train.fonts is None:
        return None
    parts = {"train": splits.train, "val": splits.val, "test": splits.test}
    counts = {name: len(set(part.fonts.tolist())) for name, part in parts.items() if part.fonts is not None}
    shared = set(splits.train.fonts.tolist()) & set(splits.val.fonts.tolist()) if splits.val.fonts is not None else set()
    return {"source": splits.train.font_source, "fonts": counts, "fonts_in_train_and_val": len(shared)}


def read_classes(run_dir: Path) -> tuple[str, ...]:
    """The run's class names (environment.json's data.classes); A-J for a run folder from before they were recorded."""
    recorded = read_json(Path(run_dir) / ENVIRONMENT).get("data", {}).get("classes")
    return tuple(recorded) if recorded else tuple(LETTERS)


def read_config(run_dir: Path) -> RunConfig:
    path = Path(run_dir) / CONFIG
    if not path.exists():
        raise LetterlabError(f"{run_dir}: not a letterlab run folder (no {CONFIG})")
    try:
        return run_from_dict(json.loads(path.read_text()), where=str(path))
    except json.JSONDecodeError as error:
        raise LetterlabError(f"{path}: not valid JSON ({error.msg})") from None


def read_json(path: Path) -> dict:
    """The JSON object in `path`; {} when the file does not exist."""
    return json.loads(Path(path).read_text()) if Path(path).exists() else {}


def read_jsonl(path: Path) -> list[dict]:
    """One dict per line of a JSON-lines file; [] when the file does not exist."""
    if not Path(path).exists():
        return []
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def is_finished(run_dir: Path) -> bool:
    """True when the run was trained to the end and scored (config.json and results.json exist)."""
    return (Path(run_dir) / CONFIG).exists() and (Path(run_dir) / RESULTS).exists()
