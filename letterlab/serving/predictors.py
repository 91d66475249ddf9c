"""What the server serves: a run folder's model through PyTorch, or an exported .onnx file
through onnxruntime, behind one interface (`classes`, `probabilities(images)`, `info()`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from letterlab.errors import LetterlabError
from letterlab.run_config import CNNConfig, RunConfig
from letterlab.runs import ONNX, WEIGHTS


def ranked(probabilities: np.ndarray, classes: list[str], k: int) -> list[dict]:
    """The k most probable classes, most probable first: [{"class": "A", "probability": 0.93}, ...]."""
    return [{"class": classes[i], "probability": float(probabilities[i])} for i in np.argsort(-probabilities, kind="stable")[:k]]


def batch_independent(config: RunConfig) -> bool:
    """False when an image's answer depends on the other images of its batch: batch norm that
    normalises with the batch's own statistics at evaluation (the homework's tf.nn.moments)."""
    model = config.model
    return not (isinstance(model, CNNConfig) and model.batch_norm_eval == "batch" and any(b.batch_norm for b in model.blocks))


class TorchModel:
    """A run folder's model, answering with PyTorch."""

    backend = "torch"

    def __init__(self, run):
        self.run, self.classes = run, list(run.classes)
        self.batch_independent = batch_independent(run.config)
        self.parameters = sum(p.numel() for p in run.model.parameters())  # loads the weights now, not on the first request

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        return self.run.predict(images)

    def info(self) -> dict:
        results = self.run.results
        from letterlab.runs import ENVIRONMENT, read_json

        return {"classes": self.classes, "parameters": self.parameters,
                "test_accuracy": results.test_accuracy if results else None,
                "data_sha256": read_json(self.run.path / ENVIRONMENT).get("data", {}).get("sha256"),
                "backend": self.backend, "preset": self.run.config.preset, "run": str(self.run.path)}


class OnnxServed:
    """An exported .onnx file, answering with onnxruntime."""

    backend = "onnx"

    def __init__(self, model):
        self.model, self.classes = model, model.classes
        self.batch_independent = batch_independent(model.config)

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        return self.model.outputs(images)[1]

    def info(self) -> dict:
        return self.model.info() | {"file": str(self.model.path)}


def load_served(path: str | Path, backend: str | None = None, device=None, export_to: Path | None = None, threads: int | None = None):
    """The model at `path` (a run folder or an .onnx file) for `backend` ("torch", "onnx"; default:
    torch for a run, onnx for a file). A run served with onnx is exported first (parity-checked) to
    RUN/model.onnx, or that file is reused when it passed its check and is newer than the weights.
    `threads`: onnxruntime's compute threads (torch's are the process's, set by the caller)."""
    import letterlab
    from letterlab.serving.onnx_model import OnnxModel

    path = Path(path)
    if path.suffix == ".onnx":
        if backend not in (None, "onnx"):
            raise LetterlabError(f"{path}: an .onnx file is served with --backend onnx, not {backend}")
        return OnnxServed(OnnxModel(path, threads, spin=False))
    run = letterlab.load_run(path, device)
    if backend in (None, "torch"):
        return TorchModel(run)
    if backend != "onnx":
        raise LetterlabError(f"--backend {backend}: not one of torch, onnx")
    from letterlab.serving.export import export_run, parity_path

    target = export_to or run.path / ONNX
    weights = run.path / WEIGHTS
    if not (target.exists() and parity_path(target).exists() and target.stat().st_mtime >= weights.stat().st_mtime):
        target = Path(export_run(run, target).path)  # exported (and checked) once, reused while the weights stay
    return OnnxServed(OnnxModel(target, threads, spin=False))
