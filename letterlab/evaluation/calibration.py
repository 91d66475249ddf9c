"""Calibration: expected calibration error, reliability diagrams, and temperature scaling fitted on
the run's validation split."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from letterlab.runs import CALIBRATION, FIGURES

BINS = 15


def reliability_bins(probs: np.ndarray, labels: np.ndarray, bins: int = BINS) -> dict:
    """Per equal-width confidence bin (i/bins, (i+1)/bins]: image count, accuracy and mean confidence
    (accuracy and confidence are 0 in empty bins)."""
    confidence, correct = probs.max(1), probs.argmax(1) == labels
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    safe = np.maximum(count, 1)
    return {"count": count, "accuracy": np.bincount(which, correct, bins) / safe,
            "confidence": np.bincount(which, confidence, bins) / safe}


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = BINS) -> float:
    """ECE = sum over bins of (bin size / n) * |accuracy - mean confidence|."""
    b = reliability_bins(probs, labels, bins)
    return float(np.sum(b["count"] / max(len(labels), 1) * np.abs(b["accuracy"] - b["confidence"])))


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The T > 0 minimising the mean NLL of softmax(logits / T), by LBFGS on log T."""
    log_t = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.detach().exp())


def reliability_figure(before: dict, after: dict, titles: tuple[str, str]):
    """Two reliability diagrams side by side: accuracy per confidence bin against the diagonal."""
    from letterlab.evaluation.figures import new_figure

    figure = new_figure(figsize=(9, 4.2), dpi=100)
    axes = figure.subplots(1, 2)
    for ax, bins, title in zip(axes, (before, after), titles):
        edges = np.linspace(0, 1, len(bins["count"]) + 1)
        filled = bins["count"] > 0
        ax.bar(edges[:-1][filled], bins["accuracy"][filled], width=np.diff(edges)[filled], align="edge",
               edgecolor="black", color="tab:blue", label="accuracy")
        ax.bar(edges[:-1][filled], (bins["confidence"] - bins["accuracy"])[filled], bottom=bins["accuracy"][filled],
               width=np.diff(edges)[filled], align="edge", color="tab:red", alpha=0.3, label="gap to confidence")
        ax.plot([0, 1], [0, 1], "k--", linewidth=1)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="accuracy", title=title)
        ax.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    return figure


def run_logits(model: torch.nn.Module, images: np.ndarray, device: torch.device, precision: str) -> torch.Tensor:
    from letterlab.models.inference import predict_logits
    from letterlab.models.inputs import images_to_tensor

    # clone: inference-mode tensors cannot take part in the temperature fit's autograd
    return predict_logits(model, images_to_tensor(images, device), precision=precision).cpu().clone()


@dataclass(frozen=True)
class Calibration:
    """Calibration of a run on test images, before and after temperature scaling: `before` and
    `after` hold ece, nll and accuracy; `figure` is the reliability diagram's PNG."""

    data: str
    n: int
    temperature: float
    temperature_fitted: bool  # False for a run without a validation part (T = 1)
    bins: int
    before: dict[str, float]
    after: dict[str, float]
    figure: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def calibrate_run(run_dir: Path, data_path: str | None = None, device: torch.device | str | None = None) -> Calibration:
    """Fit T on the run's validation split; ECE and NLL on the test images before and after. Writes
    calibration.json and figures/reliability.png into the run folder."""
    from letterlab.data.run_data import evaluation_data, load_run_splits
    from letterlab.evaluation.figures import figure_to_png
    from letterlab.evaluation.trained import load_trained
    from letterlab.files import write_json_atomic
    from letterlab.models.inputs import pick_device

    device = pick_device(device)
    config, model = load_trained(run_dir, device)
    val, test = load_run_splits(run_dir, config).val, evaluation_data(run_dir, data_path)
    # A run trained without a validation part (val_fraction 0) has nothing to fit T on: T = 1.
    temperature = fit_temperature(run_logits(model, val.images, device, config.train.precision), torch.from_numpy(val.labels)) if len(val) else 1.0
    logits, labels = run_logits(model, test.images, device, config.train.precision), torch.from_numpy(test.labels)
    reliability, scores = {}, {}
    for name, scale in (("before", 1.0), ("after", temperature)):
        probs = torch.softmax(logits / scale, 1).numpy()
        reliability[name] = reliability_bins(probs, test.labels)
        scores[name] = {"ece": expected_calibration_error(probs, test.labels),
                        "nll": float(F.cross_entropy(logits / scale, labels)),
                        "accuracy": float((probs.argmax(1) == test.labels).mean())}
    titles = (f"before: ECE {scores['before']['ece']:.4f}", f"after T = {temperature:.3f}: ECE {scores['after']['ece']:.4f}")
    png = Path(run_dir) / FIGURES / "reliability.png"
    png.parent.mkdir(exist_ok=True)
    png.write_bytes(figure_to_png(reliability_figure(reliability["before"], reliability["after"], titles)))
    result = Calibration(data=test.source, n=len(test), temperature=temperature, temperature_fitted=bool(len(val)), bins=BINS,
                         before=scores["before"], after=scores["after"], figure=str(png))
    write_json_atomic(Path(run_dir) / CALIBRATION, result.to_dict())
    return result
