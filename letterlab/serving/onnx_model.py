"""A model exported to ONNX, run with onnxruntime: the same predictions as its run folder's model,
where PyTorch is not installed. The file carries what it needs (class names, input format, the
run's config and data hash) as metadata, written by `serving.export`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from letterlab.data.dataset import LetterImages
from letterlab.errors import LetterlabError

INPUT, LOGITS, PROBABILITIES = "images", "logits", "probabilities"
INPUT_FORMAT = "uint8 (N, 28, 28): a white letter on black, 0-255; scaling to [0, 1] happens inside the graph"
BATCH = 1000  # images per onnxruntime call, as PyTorch inference batches them


def cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def new_session(path: Path | str | bytes, threads: int | None = None, spin: bool = True):
    """An onnxruntime CPU session using `threads` cores (default: all this process may use);
    `spin=False`: idle compute threads sleep instead of spinning (a server's event loop needs the core)."""
    try:
        import onnxruntime
    except ImportError:
        raise LetterlabError("onnxruntime is not installed; pip install 'letterlab[onnx]'") from None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or cores()
    options.inter_op_num_threads = 1
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return onnxruntime.InferenceSession(path if isinstance(path, bytes) else str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types for unreadable models
        raise LetterlabError(f"{path if not isinstance(path, bytes) else 'model'}: not a loadable ONNX model ({str(error).splitlines()[0]})") from None


class OnnxModel:
    """An exported letterlab model: `predict(images)` and `evaluate(data)` as for a Run."""

    backend = "onnx"

    def __init__(self, path: str | Path, threads: int | None = None, spin: bool = True):
        self.path = Path(path)
        if not self.path.is_file():
            raise LetterlabError(f"{self.path}: no such ONNX file")
        self.session = new_session(self.path, threads, spin)
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        if "letterlab.classes" not in self.metadata:
            raise LetterlabError(f"{self.path}: not exported by letterlab (no letterlab.classes metadata)")
        self.classes: list[str] = json.loads(self.metadata["letterlab.classes"])

    def __repr__(self) -> str:
        return f"OnnxModel({str(self.path)!r}: {len(self.classes)} classes)"

    @property
    def config(self):
        from letterlab.run_config import run_from_dict

        return run_from_dict(json.loads(self.metadata["letterlab.config"]), where=f"{self.path}: letterlab.config")

    def outputs(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(logits, probabilities), each float32 (N, classes), for uint8 images (N, 28, 28)."""
        images = np.ascontiguousarray(images, dtype=np.uint8)
        if len(images) == 0:
            empty = np.empty((0, len(self.classes)), dtype=np.float32)
            return empty, empty
        parts = [self.session.run([LOGITS, PROBABILITIES], {INPUT: images[i:i + BATCH]}) for i in range(0, len(images), BATCH)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def predict(self, images, *, invert: bool = False) -> np.ndarray:
        """Probabilities (N, classes) for the same inputs as `Run.predict`."""
        from letterlab.api import as_letter_images

        return self.outputs(as_letter_images(images, invert))[1]

    def data(self, data=None) -> LetterImages:
        """`data` (a path or LetterImages), or the test split of the run the model came from
        (remade from the config in the file, and refused if its hash differs from the recorded one)."""
        from letterlab.data.dataset import as_classes

        if isinstance(data, LetterImages):
            return as_classes(data, tuple(self.classes), f"model {self.path}")
        if data:
            from letterlab.data.run_data import images_at

            return images_at(data, tuple(self.classes), f"model {self.path}")
        import dataclasses

        from letterlab.data.run_data import load_splits

        splits = load_splits(self.config)
        if splits.fingerprint() != self.metadata.get("letterlab.data_sha256"):
            raise LetterlabError(f"{self.path}: the data ({splits.train.source}) is not what this model was trained on; pass --data PATH")
        return dataclasses.replace(splits.test, source=f"{splits.test.source} [run test split]")

    def evaluate(self, data=None):
        """An Evaluation, as `Run.evaluate` gives, computed with onnxruntime."""
        import torch

        from letterlab.evaluation.scoring import evaluation_from_probabilities
        from letterlab.models.inference import loss_from_logits

        images = self.data(data)
        logits, probabilities = self.outputs(images.images)
        loss = loss_from_logits(torch.from_numpy(logits), torch.from_numpy(images.labels), self.config.train.loss).item() if len(images) else float("nan")
        return evaluation_from_probabilities(images, probabilities, loss)

    def info(self) -> dict:
        """What `GET /v1/model` reports."""
        return {"classes": self.classes, "parameters": int(self.metadata.get("letterlab.parameters", 0)),
                "test_accuracy": finite_or_none(self.metadata.get("letterlab.test_accuracy")),
                "data_sha256": self.metadata.get("letterlab.data_sha256"), "backend": self.backend,
                "preset": self.config.preset, "input": self.metadata.get("letterlab.input")}


def finite_or_none(text: str | None) -> float | None:
    """A metadata number, or None when it is missing or not finite (JSON has no NaN)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None
