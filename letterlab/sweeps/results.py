"""A sweep's results: each trial's numbers, each variant summarised over its seeds (validation and
test accuracy mean ± sd, the validation difference to the base paired seed by seed and fold by fold,
a 95% t-interval of the test accuracy, McNemar's exact test against the base on the same test
images), written as sweep.json; and TensorBoard's HParams tab, one row per
trial, written into each trial's own run folder."""

from __future__ import annotations

import dataclasses
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from letterlab.evaluation.statistics import mcnemar_exact, t_interval
from letterlab.files import write_json_atomic
from letterlab.reports.sweep_section import SWEEP_JSON
from letterlab.run_config import to_dict
from letterlab.sweeps.spec import BASE, Variant, get_setting
from letterlab.sweeps.trial import trial_folder

HPARAMS_SUFFIX = ".hparams"  # the events file of a trial's HParams row, rewritten by each sweep


@dataclass(frozen=True)
class TrialResult:
    """One (variant, seed) of a sweep: its run folder and numbers; status is trained, resumed,
    reused, stopped (by ASHA), interrupted (Ctrl-C: the next sweep resumes it) or failed."""

    variant: str
    seed: int
    run: str
    status: str
    epochs: int | None = None
    val_accuracy: float | None = None
    test_accuracy: float | None = None
    train_seconds: float | None = None
    parameters: int | None = None
    wall_seconds: float | None = None  # the trial's whole time in its worker: data, training, scoring
    node: str = ""
    error: str = ""
    fold: int | None = None  # the validation fold, in a cross-validated sweep

    @property
    def name(self) -> str:
        """'variant/seedK', or 'variant/seedK-foldF' in a cross-validated sweep."""
        return f"{self.variant}/{trial_folder(self.seed, self.fold)}"


@dataclass(frozen=True)
class VariantSummary:
    """A variant over its finished trials: its seeds and, cross-validated, every fold of each (validation
    mean is then the cross-validation figure). Accuracies are fractions; sd is over the trials (None for one)."""

    name: str
    settings: dict[str, Any]
    seeds: int
    val_mean: float | None
    val_sd: float | None
    test_mean: float | None
    test_sd: float | None
    test_ci95: tuple[float, float] | None  # t-interval of the mean over seeds (None for one seed)
    mcnemar: dict | None  # against the base, seed by seed: discordant images summed, the largest p
    parameters: int | None
    train_seconds: float | None  # mean per trial
    folds: int = 0  # folds each seed was validated on (0: one validation part)
    # validation accuracy minus the base's on the same seed and fold: {"pairs", "mean", "sd"} (sd None for one pair)
    val_paired: dict | None = None


@dataclass(frozen=True)
class SweepResult:
    spec: str
    out: str
    trials: list[TrialResult]
    variants: list[VariantSummary]
    wall_seconds: float
    ray_start_seconds: float

    @property
    def failed(self) -> list[TrialResult]:
        return [t for t in self.trials if t.status == "failed"]

    @property
    def unfinished(self) -> list[TrialResult]:
        """Trials that failed or were interrupted (not those ASHA stopped on purpose)."""
        return [t for t in self.trials if t.status in ("failed", "interrupted")]


def _mean_sd(values: list[float]) -> tuple[float | None, float | None]:
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return None, None
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else None  # no spread from one seed


def summarise(variants: list[Variant], trials: list[TrialResult],
              correct: dict[tuple[str, int, int | None], tuple[str, np.ndarray]]) -> list[VariantSummary]:
    """One summary per variant, in the spec's order; `correct` maps (variant, seed, fold) to the digest
    of the test images that trial was scored on and which of them it got right."""
    finished = [t for t in trials if t.test_accuracy is not None]
    summaries = []
    for variant in variants:
        mine = [t for t in finished if t.variant == variant.name]
        tests = [t.test_accuracy for t in mine]
        val_mean, val_sd = _mean_sd([t.val_accuracy for t in mine])
        test_mean, test_sd = _mean_sd(tests)
        seconds = _mean_sd([t.train_seconds for t in mine])[0]
        folds = {t.fold for t in mine if t.fold is not None}
        summaries.append(VariantSummary(
            variant.name, variant.settings, len({t.seed for t in mine}), val_mean, val_sd, test_mean, test_sd, t_interval(tests),
            None if variant.name == BASE else _mcnemar_against_base(variant.name, correct),
            mine[0].parameters if mine else None, seconds, len(folds),
            None if variant.name == BASE else _paired_against_base(mine, finished)))
    return summaries


def _paired_against_base(mine: list[TrialResult], finished: list[TrialResult]) -> dict | None:
    """The variant's validation accuracy less the base's, trial by trial on the same seed and fold
    (so the same validation images): the differences' mean and sd, a steadier judge than two means
    whose spread is mostly which fonts each fold holds out."""
    base = {(t.seed, t.fold): t.val_accuracy for t in finished if t.variant == BASE and t.val_accuracy is not None}
    differences = [t.val_accuracy - base[t.seed, t.fold] for t in mine if t.val_accuracy is not None and (t.seed, t.fold) in base]
    if not differences:
        return None
    mean, sd = _mean_sd(differences)
    return {"pairs": len(differences), "mean": mean, "sd": sd}


def _mcnemar_against_base(name: str, correct: dict[tuple[str, int, int | None], tuple[str, np.ndarray]]) -> dict | None:
    """McNemar's exact test of the variant against the base, trial by trial (each seed and fold paired
    with the base's same seed and fold, on the same test images): the discordant counts summed over
    those pairs for the record, and the largest of their p-values, so a difference is called only when
    every pair shows it (one image counted once per test, as the test assumes)."""
    tests = [mcnemar_exact(mine, correct[(BASE, *trial)][1]) for (variant, *trial), (digest, mine) in correct.items()
             if variant == name and (BASE, *trial) in correct and correct[(BASE, *trial)][0] == digest]
    if not tests:
        return None
    return {"seeds": len(tests), "only_variant_correct": sum(t["only_a_correct"] for t in tests),
            "only_base_correct": sum(t["only_b_correct"] for t in tests), "p_value": max(t["p_value"] for t in tests)}


def write_sweep_json(out: Path, result: SweepResult) -> Path:
    path = out / SWEEP_JSON
    write_json_atomic(path, dataclasses.asdict(result))
    return path


def _hparam_value(value: Any) -> Any:
    return value if isinstance(value, bool | int | float | str) else str(value)


def write_hparams(trials: list[TrialResult], variants: dict[str, Variant]) -> None:
    """TensorBoard's HParams tab over a sweep folder: one row per finished trial, with the variant,
    the seed and every setting that varies in the sweep, and its real validation and test accuracy
    and training time. Each row is written into the trial's own run folder (replacing the one an
    earlier sweep wrote), so `tensorboard --logdir SWEEP` shows it beside the run's curves."""
    from torch.utils.tensorboard import SummaryWriter
    from torch.utils.tensorboard.summary import hparams

    keys = sorted({key for variant in variants.values() for key in variant.settings})
    for trial in trials:
        if trial.test_accuracy is None:
            continue
        config = to_dict(variants[trial.variant].config)
        run = Path(trial.run)
        for old in run.glob(f"events.out.tfevents.*{HPARAMS_SUFFIX}"):
            old.unlink()
        fold = {"fold": trial.fold} if trial.fold is not None else {}
        values = {"variant": trial.variant, "seed": trial.seed} | fold | {key: _hparam_value(get_setting(config, key)) for key in keys}
        metrics = {"hparam/val_accuracy": float("nan") if trial.val_accuracy is None else trial.val_accuracy,
                   "hparam/test_accuracy": trial.test_accuracy, "hparam/train_seconds": trial.train_seconds}
        experiment, start, end = hparams(values, metrics)
        with SummaryWriter(str(run), filename_suffix=HPARAMS_SUFFIX) as writer:
            for summary in (experiment, start, end):
                writer.file_writer.add_summary(summary)
            for tag, value in metrics.items():
                writer.add_scalar(tag, value, trial.epochs or 0)
