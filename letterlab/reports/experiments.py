"""Read the run folders under an output folder and summarise them per experiment (summary.json).

An experiment is a preset with a loss; its runs are the seeds. Every number here is read from a
run folder's files (config.json, environment.json, metrics.jsonl, timing.jsonl, results.json)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from letterlab import LETTERS
from letterlab.files import write_json_atomic
from letterlab.models.build import build_model
from letterlab.models.describe import count_parameters
from letterlab.models.presets import HOMEWORK_PRESETS
from letterlab.reports.profiles import differences_from_homework
from letterlab.run_config import RunConfig
from letterlab.runs import ENVIRONMENT, METRICS, RESULTS, TIMING, is_finished, read_config, read_json, read_jsonl

SUMMARY = "summary.json"
FINAL_NUMBERS = ("train_accuracy", "train_loss", "val_accuracy", "val_loss", "test_accuracy", "test_loss",
                 "train_seconds", "seconds_per_epoch")


@dataclass
class Run:
    """One finished run folder, read back."""

    name: str
    path: Path
    config: RunConfig
    results: dict
    metrics: list[dict]
    timing: list[dict]
    environment: dict

    @property
    def classes(self) -> tuple[str, ...]:
        """The run's class names (environment.json); A-J for a run folder from before they were recorded."""
        return tuple(self.environment.get("data", {}).get("classes") or LETTERS)

    @property
    def experiment(self) -> str:
        suffix = "-double-softmax" if self.config.train.loss == "double_softmax" else ""
        return (self.config.preset or "custom") + suffix


@dataclass
class Experiment:
    name: str
    runs: list[Run] = field(default_factory=list)

    @property
    def config(self) -> RunConfig:
        return self.runs[0].config

    @cached_property
    def parameters(self) -> int:
        return count_parameters(build_model(self.config.model, len(self.runs[0].classes)))

    def values(self, key: str) -> list[float]:
        return [float(run.results[key]) for run in self.runs if run.results.get(key) is not None]

    def mean(self, key: str) -> float:
        values = self.values(key)
        return float(np.mean(values)) if values else float("nan")

    def std(self, key: str) -> float:
        """Sample standard deviation over seeds; 0 for a single run."""
        values = self.values(key)
        return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0

    def epoch_series(self, key: str) -> np.ndarray:
        """(seeds, epochs) of a per-epoch metric, cut to the shortest run."""
        series = [[m[key] for m in run.metrics] for run in self.runs]
        length = min(len(s) for s in series)
        return np.array([s[:length] for s in series], dtype=float)


def read_run(path: Path) -> Run:
    return Run(path.name, path, read_config(path), read_json(path / RESULTS), read_jsonl(path / METRICS),
               read_jsonl(path / TIMING), read_json(path / ENVIRONMENT))


def load_experiments(out: Path) -> list[Experiment]:
    """Every finished run (config.json and results.json present) directly under `out`, grouped into
    experiments in the homework's order, the double-softmax variants after the presets."""
    experiments: dict[str, Experiment] = {}
    for path in sorted(p for p in Path(out).iterdir() if is_finished(p)):
        run = read_run(path)
        experiments.setdefault(run.experiment, Experiment(run.experiment)).runs.append(run)
    for experiment in experiments.values():
        experiment.runs.sort(key=lambda run: run.config.train.seed)

    def order(experiment: Experiment):
        preset = experiment.config.preset
        rank = HOMEWORK_PRESETS.index(preset) if preset in HOMEWORK_PRESETS else len(HOMEWORK_PRESETS)
        return experiment.config.train.loss != "logits", rank, experiment.name

    return sorted(experiments.values(), key=order)


def summarise(experiment: Experiment) -> dict:
    config, environment = experiment.config, experiment.runs[0].environment
    numbers = {key: {"mean": experiment.mean(key), "std": experiment.std(key), "values": experiment.values(key)}
               for key in FINAL_NUMBERS}
    return {
        "preset": config.preset, "loss": config.train.loss, "parameters": experiment.parameters,
        "epochs": config.train.epochs, "seeds": [run.config.train.seed for run in experiment.runs],
        "runs": [run.name for run in experiment.runs], "data": environment.get("data", {}),
        "differs_from_homework": differences_from_homework(config), **numbers,
    }


def write_summary(out: Path, experiments: list[Experiment]) -> dict:
    summary = {"experiments": {experiment.name: summarise(experiment) for experiment in experiments}}
    write_json_atomic(Path(out) / SUMMARY, summary)
    return summary
