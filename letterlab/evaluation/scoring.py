"""Scoring: how a model did on a set of images (`Evaluation`), and a trained run's final numbers
(`RunResults`, saved as results.json and confusion.txt in the run folder)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from letterlab import LETTERS
from letterlab.data.dataset import LetterImages
from letterlab.errors import LetterlabError
from letterlab.evaluation.metrics import confusion_matrix, format_confusion, per_class_scores
from letterlab.evaluation.statistics import accuracy_with_interval
from letterlab.files import write_json_atomic, write_text_atomic
from letterlab.models.inference import loss_from_logits, predict_logits
from letterlab.models.inputs import images_to_tensor
from letterlab.run_config import RunConfig
from letterlab.runs import CONFUSION, METRICS, RESULTS, TIMING, read_json, read_jsonl


@dataclass(frozen=True)
class Evaluation:
    """A model's predictions on every image of a data set, and the scores that follow from them."""

    source: str  # where the images came from
    n: int
    accuracy: float
    ci95: tuple[float, float]  # Wilson 95% interval of the accuracy
    loss: float  # as the run was trained (TrainConfig.loss); NaN for no images
    confusion: np.ndarray  # int64 (classes, classes): counts[true, predicted]
    per_class: dict[str, dict[str, float]]  # class name -> precision, recall, f1, support
    labels: np.ndarray  # int64 (N,)
    predictions: np.ndarray  # int64 (N,): the most probable class of each image
    probabilities: np.ndarray  # float32 (N, classes)
    classes: tuple[str, ...] = tuple(LETTERS)  # the class names, label i = classes[i]

    @property
    def correct(self) -> np.ndarray:
        """bool (N,): which images the model got right."""
        return self.predictions == self.labels

    def to_dict(self) -> dict:
        """The scores as JSON-ready values (without the per-image arrays)."""
        return {"source": self.source, "n": self.n, "accuracy": self.accuracy, "ci95": list(self.ci95), "loss": self.loss,
                "confusion": self.confusion.tolist(), "per_class": self.per_class, "classes": list(self.classes)}


def evaluation_from_probabilities(data: LetterImages, probabilities: np.ndarray, loss: float) -> Evaluation:
    """The Evaluation of `probabilities` (N, classes) for `data`'s images."""
    if probabilities.shape[1] != len(data.classes):
        raise LetterlabError(f"{data.source}: {len(data.classes)} classes, but the model predicts {probabilities.shape[1]}")
    predictions = probabilities.argmax(1) if len(data) else np.empty(0, dtype=np.int64)
    confusion = confusion_matrix(data.labels, predictions, len(data.classes))
    interval = accuracy_with_interval(predictions == data.labels)
    return Evaluation(source=data.source, n=len(data), accuracy=interval["accuracy"], ci95=tuple(interval["ci95"]), loss=loss,
                      confusion=confusion, per_class=per_class_scores(confusion, data.classes), labels=data.labels,
                      predictions=predictions, probabilities=probabilities, classes=data.classes)


def score(model: torch.nn.Module, data: LetterImages, device: torch.device, precision: str = "fp32", loss: str = "logits") -> Evaluation:
    """Evaluate `model` (in evaluation mode) on every image of `data`; `loss` is TrainConfig.loss."""
    logits = predict_logits(model, images_to_tensor(data.images, device), precision=precision)
    labels = torch.from_numpy(data.labels).to(device)
    value = loss_from_logits(logits, labels, loss).item() if len(data) else float("nan")
    return evaluation_from_probabilities(data, torch.softmax(logits, 1).cpu().numpy(), value)


@dataclass(frozen=True)
class RunResults:
    """A finished run's numbers (results.json): the last epoch's training figures, the final
    model's validation figures (the last epoch's, or the weight average's for SWA), the test scores
    and the training time."""

    preset: str
    epochs: int
    steps: int
    train_loss: float | None
    train_accuracy: float | None
    val_loss: float | None  # NaN for a run trained without a validation part
    val_accuracy: float | None
    test_loss: float
    test_accuracy: float
    test_n: int
    train_seconds: float
    seconds_per_epoch: float | None  # median over epochs
    confusion: list[list[int]]
    per_class: dict[str, dict[str, float]]
    test_source: str = ""
    classes: list[str] = dataclasses.field(default_factory=lambda: list(LETTERS))  # A-J in results.json from before


def write_results(config: RunConfig, run_dir: Path, test: Evaluation, val: Evaluation | None = None) -> RunResults:
    """results.json and confusion.txt from the test Evaluation and the run's metrics and timing
    files; `val`: the final model's validation Evaluation where it is not the last epoch's model."""
    metrics, timing = read_jsonl(run_dir / METRICS), read_jsonl(run_dir / TIMING)
    last = metrics[-1] if metrics else {}
    seconds = [t["seconds"] for t in timing]
    results = RunResults(
        preset=config.preset, epochs=last.get("epoch", 0), steps=last.get("last_step", 0),
        train_loss=last.get("train_loss"), train_accuracy=last.get("train_accuracy"),
        val_loss=val.loss if val else last.get("val_loss"), val_accuracy=val.accuracy if val else last.get("val_accuracy"),
        test_loss=test.loss, test_accuracy=test.accuracy, test_n=test.n,
        train_seconds=float(sum(seconds)), seconds_per_epoch=float(np.median(seconds)) if seconds else None,
        confusion=test.confusion.tolist(), per_class=test.per_class, test_source=test.source, classes=list(test.classes),
    )
    write_json_atomic(run_dir / RESULTS, dataclasses.asdict(results))
    write_text_atomic(run_dir / CONFUSION, format_confusion(test.confusion, test.classes) + "\n")
    return results


def read_results(run_dir: Path) -> RunResults | None:
    """The run's results.json as RunResults; None before the run has finished."""
    values = read_json(Path(run_dir) / RESULTS)
    if not values:
        return None
    known = {f.name for f in dataclasses.fields(RunResults)}
    return RunResults(**{key: value for key, value in values.items() if key in known})
