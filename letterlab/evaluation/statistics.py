"""Honest statistics: accuracy with a Wilson 95% interval, and McNemar's exact test for two runs
scored on the same test images."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from letterlab.errors import LetterlabError

Z_95 = 1.959963984540054  # the standard normal's 97.5% quantile


def wilson_interval(correct: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval for a proportion correct/n; (0, 1) when n is 0."""
    if n == 0:
        return 0.0, 1.0
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def t_interval(values: list[float]) -> tuple[float, float] | None:
    """95% interval of the mean of accuracies `values` (Student's t, e.g. one per seed), within
    [0, 1]; None for fewer than two."""
    if len(values) < 2:
        return None
    from scipy.stats import t

    mean, sd = float(np.mean(values)), float(np.std(values, ddof=1))
    half = float(t.ppf(0.975, len(values) - 1)) * sd / math.sqrt(len(values))
    return max(0.0, mean - half), min(1.0, mean + half)


def accuracy_with_interval(correct: np.ndarray) -> dict:
    """Accuracy of a boolean vector (one entry per image) with its 95% Wilson interval."""
    hits, n = int(np.sum(correct)), int(len(correct))
    low, high = wilson_interval(hits, n)
    return {"accuracy": hits / n if n else float("nan"), "correct": hits, "n": n, "ci95": [low, high]}


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> dict:
    """McNemar's exact test: under "A and B are equally accurate", the images that exactly one of them
    gets right split Binomial(b + c, 1/2). Two-sided p = min(1, 2 P(X <= min(b, c)))."""
    correct_a, correct_b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    if correct_a.shape != correct_b.shape:
        raise ValueError(f"the two runs were scored on different numbers of images: {correct_a.shape} vs {correct_b.shape}")
    only_a, only_b = int(np.sum(correct_a & ~correct_b)), int(np.sum(~correct_a & correct_b))
    n = only_a + only_b
    tail = sum(math.comb(n, k) for k in range(min(only_a, only_b) + 1))
    p_value = min(1.0, 2 * tail / 2**n)  # exact integers, then one correctly rounded division
    return {"only_a_correct": only_a, "only_b_correct": only_b, "p_value": p_value}


@dataclass(frozen=True)
class RunAccuracy:
    """One run's accuracy on the compared images, with its 95% Wilson interval."""

    run: str
    accuracy: float
    correct: int
    n: int
    ci95: tuple[float, float]


@dataclass(frozen=True)
class Comparison:
    """Two runs scored on the same images: accuracies with intervals and McNemar's exact test."""

    data: str
    n: int
    a: RunAccuracy
    b: RunAccuracy
    only_a_correct: int
    only_b_correct: int
    p_value: float
    alpha: float = 0.05

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "significant": self.significant}


def compare_runs(run_a: Path, run_b: Path, data_path: str | None = None, device: torch.device | str | None = None,
                 alpha: float = 0.05) -> Comparison:
    """Both runs' accuracies with intervals and McNemar's exact test on the same images."""
    from letterlab.data.dataset import classes_text
    from letterlab.data.run_data import evaluation_data
    from letterlab.evaluation.trained import load_trained, probabilities
    from letterlab.models.inputs import pick_device
    from letterlab.runs import read_classes

    device = pick_device(device)
    if read_classes(run_a) != read_classes(run_b):
        raise LetterlabError(f"{run_b}: {classes_text(read_classes(run_b))} differ from {run_a}'s {classes_text(read_classes(run_a))}")
    data = evaluation_data(run_a, data_path)
    if not data_path and not np.array_equal(evaluation_data(run_b, None).images, data.images):
        raise LetterlabError(f"{run_a} and {run_b} have different test splits; pass --data PATH to compare them on the same images")
    correct = {}
    for name, run in (("a", run_a), ("b", run_b)):
        config, model = load_trained(run, device)
        correct[name] = probabilities(model, data.images, device, config.train.precision).argmax(1) == data.labels
    test = mcnemar_exact(correct["a"], correct["b"])

    def accuracy_of(run: Path, hits: np.ndarray) -> RunAccuracy:
        scores = accuracy_with_interval(hits)
        return RunAccuracy(str(run), scores["accuracy"], scores["correct"], scores["n"], tuple(scores["ci95"]))

    return Comparison(data=data.source, n=len(data), a=accuracy_of(run_a, correct["a"]), b=accuracy_of(run_b, correct["b"]),
                      only_a_correct=test["only_a_correct"], only_b_correct=test["only_b_correct"],
                      p_value=test["p_value"], alpha=alpha)
