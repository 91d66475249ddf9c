"""Export a run's model to ONNX, with letterlab's preprocessing inside the graph, and prove it: the
exported file must give PyTorch's probabilities on the run's test images (largest absolute
difference under `TOLERANCE`, every argmax the same), or it is not written at all."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from letterlab import __version__
from letterlab.errors import LetterlabError
from letterlab.files import write_atomic, write_json_atomic
from letterlab.runs import CONFIG, ENVIRONMENT, ONNX, read_json
from letterlab.serving.onnx_model import BATCH, INPUT, INPUT_FORMAT, LOGITS, PROBABILITIES, new_session

TOLERANCE = 1e-5  # float32: largest allowed |p_onnx - p_torch| over all test images and classes
DEFAULT_OPSET = 18


class LetterGraph(nn.Module):
    """What is exported: uint8 images (N, 28, 28) as letterlab stores them -> (logits, probabilities)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = images.unsqueeze(1).to(torch.float32) / 255.0
        logits = self.model(x)
        return logits, torch.softmax(logits, 1)


@dataclass(frozen=True)
class ExportReport:
    """The exported file and its parity check against PyTorch on the run's test images."""

    path: str
    parity_path: str
    n: int  # test images compared
    max_abs_difference: float  # largest |p_onnx - p_torch|
    argmax_agreement: float  # share of images with the same predicted class
    torch_accuracy: float
    onnx_accuracy: float
    tolerance: float
    opset: int
    seconds: float  # export and check

    @property
    def passed(self) -> bool:
        return self.max_abs_difference < self.tolerance and self.argmax_agreement == 1.0


def export_run(run, out: str | Path | None = None, opset: int = DEFAULT_OPSET) -> ExportReport:
    """Export `run` (a letterlab.Run) to `out` (default RUN/model.onnx) and write `<out>.parity.json`
    beside it; a failed parity check writes neither and raises LetterlabError saying why."""
    started = time.perf_counter()
    out = Path(out) if out else run.path / ONNX
    if out.suffix != ".onnx":
        raise LetterlabError(f"{out}: the exported file's name must end in .onnx")
    model = LetterGraph(_cpu_float_copy(run)).eval()
    proto = _onnx_proto(model, opset)
    written = next((entry.version for entry in proto.opset_import if entry.domain in ("", "ai.onnx")), None)
    if written != opset:
        raise LetterlabError(f"{out}: not written: opset {opset} was asked for, the exporter can only write opset {written}")
    test = run.data()
    _add_metadata(proto, run, test_n=len(test))
    from onnx import checker

    checker.check_model(proto)
    data = proto.SerializeToString()
    torch_logits, torch_probs = _torch_outputs(model, test.images, len(run.classes))
    session = new_session(data)
    onnx_probs = np.concatenate([session.run([PROBABILITIES], {INPUT: test.images[i:i + BATCH]})[0]
                                 for i in range(0, len(test), BATCH)]) if len(test) else torch_probs
    report = ExportReport(
        path=str(out), parity_path=str(parity_path(out)), n=len(test),
        max_abs_difference=float(np.abs(onnx_probs - torch_probs).max()) if len(test) else 0.0,
        argmax_agreement=float((onnx_probs.argmax(1) == torch_probs.argmax(1)).mean()) if len(test) else 1.0,
        torch_accuracy=float((torch_probs.argmax(1) == test.labels).mean()) if len(test) else float("nan"),
        onnx_accuracy=float((onnx_probs.argmax(1) == test.labels).mean()) if len(test) else float("nan"),
        tolerance=TOLERANCE, opset=opset, seconds=time.perf_counter() - started,
    )
    if not report.passed:
        raise LetterlabError(f"{out}: not written: the ONNX model differs from PyTorch on {test.source} (largest probability "
                             f"difference {report.max_abs_difference:.2e}, tolerance {TOLERANCE:.0e}; argmax agreement "
                             f"{report.argmax_agreement:.2%})")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, lambda temp: temp.write_bytes(data))
    write_json_atomic(parity_path(out), dataclasses.asdict(report) | {"data": test.source})
    return report


def parity_path(onnx_path: Path) -> Path:
    return onnx_path.with_suffix(".parity.json")


def _cpu_float_copy(run) -> nn.Module:
    """The run's model on the CPU in float32 and evaluation mode (the run's own stays as it is)."""
    from letterlab.evaluation.trained import load_trained

    return load_trained(run.path, torch.device("cpu"))[1].float().eval()


def _onnx_proto(model: nn.Module, opset: int):
    """The ModelProto of `model` with a dynamic batch dimension (torch.export, then onnxscript)."""
    example = torch.zeros(2, 28, 28, dtype=torch.uint8)
    try:
        with warnings.catch_warnings(), tempfile.TemporaryDirectory() as scratch, _quiet():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(model, (example,), input_names=[INPUT], output_names=[LOGITS, PROBABILITIES],
                                        dynamic_shapes={"images": {0: torch.export.Dim("batch")}}, opset_version=opset,
                                        dynamo=True, artifacts_dir=scratch, verbose=False)
    except ImportError as error:
        raise LetterlabError(f"exporting to ONNX needs onnx and onnxscript ({error}); pip install 'letterlab[onnx]'") from None
    except Exception as error:  # the exporter's own failures (an unsupported opset, an operator it cannot convert)
        raise LetterlabError(f"the ONNX exporter failed ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})") from None
    return program.model_proto


class _quiet:
    """Silence the exporter for the block: its progress lines on stdout (file descriptor 1) and its
    log warnings (such as torchvision's operators being skipped); both are restored after."""

    def __enter__(self):
        sys.stdout.flush()
        self.saved = os.dup(1)
        self.null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(self.null, 1)
        self.logger = logging.getLogger("torch.onnx")
        self.level = self.logger.level
        self.logger.setLevel(logging.ERROR)

    def __exit__(self, *exc):
        self.logger.setLevel(self.level)
        os.dup2(self.saved, 1)
        os.close(self.saved)
        os.close(self.null)


def _torch_outputs(model: nn.Module, images: np.ndarray, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's (logits, probabilities) in the same batches onnxruntime sees (batch-statistics
    batch norm depends on them)."""
    parts = []
    with torch.inference_mode():
        for i in range(0, len(images), BATCH):
            logits, probs = model(torch.from_numpy(np.ascontiguousarray(images[i:i + BATCH])))
            parts.append((logits.numpy(), probs.numpy()))
    if not parts:
        return np.empty((0, classes), np.float32), np.empty((0, classes), np.float32)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _add_metadata(proto, run, test_n: int) -> None:
    config_bytes = (run.path / CONFIG).read_bytes()
    results = run.results
    values = {
        "letterlab.classes": json.dumps(list(run.classes)),
        "letterlab.input": INPUT_FORMAT,
        "letterlab.outputs": "logits and probabilities (softmax), float32 (N, classes)",
        "letterlab.version": __version__,
        "letterlab.torch_version": torch.__version__,
        "letterlab.config": config_bytes.decode(),
        "letterlab.config_sha256": hashlib.sha256(config_bytes).hexdigest(),
        "letterlab.data_sha256": read_json(run.path / ENVIRONMENT).get("data", {}).get("sha256", ""),
        "letterlab.test_accuracy": repr(results.test_accuracy) if results else "nan",
        "letterlab.test_n": str(results.test_n if results else test_n),
        "letterlab.parameters": str(sum(p.numel() for p in run.model.parameters())),
        "letterlab.preset": run.config.preset,
    }
    for key, value in values.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name, proto.producer_version = "letterlab", __version__
