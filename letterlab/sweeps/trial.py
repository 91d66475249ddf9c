"""One trial of a sweep, as it runs in a Ray worker: an ordinary run folder brought to completion
with letterlab's own training (the same bytes as `letterlab train` with that config and seed), or
reused when it is finished already, or resumed from its own checkpoint when it was interrupted.

Tune hears of every epoch (for ASHA) and, at the end, of the run's results and which test images
it got right (for McNemar's test against the base). Nothing here is specific to one machine: the
run folder's path is absolute, so it must be on storage every node sees."""

from __future__ import annotations

import base64
import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from letterlab.errors import LetterlabError
from letterlab.models.describe import count_parameters
from letterlab.run_config import RunConfig, run_from_dict
from letterlab.runs import LOCK, RunLock


@dataclass(frozen=True)
class TrialPlan:
    """What a trial trains, sent to the worker: plain values only."""

    variant: str
    seed: int
    run_dir: str
    config: dict  # the run config as a dict (run_config.to_dict)
    threads: int
    device: str
    fold: int | None = None  # the validation fold, in a cross-validated sweep


def trial_folder(seed, fold: int | None) -> str:
    """A trial's folder in its variant's: seedK, or seedK-foldF in a cross-validated sweep."""
    return f"seed{seed}" if fold is None else f"seed{seed}-fold{fold}"


def pack_correct(correct: np.ndarray) -> str:
    return base64.b64encode(np.packbits(correct.astype(bool)).tobytes()).decode()


def unpack_correct(text: str, n: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(base64.b64decode(text), np.uint8))[:n].astype(bool)


def _report_epochs(report, epochs: int):
    """An epoch-end hook factory that tells Tune each epoch's validation accuracy (the last epoch's
    comes with the test results, so a scheduler stops no trial that has finished training)."""

    def factory(context):
        def hook(state, result) -> None:
            if result.epoch < epochs:
                report({"epoch": result.epoch, "val_accuracy": result.val_accuracy})

        return hook

    return factory


def _digest(images) -> str:
    """Which test images a trial was scored on, so McNemar pairs only trials scored on the same."""
    return hashlib.sha256(np.ascontiguousarray(images.images).tobytes() + np.ascontiguousarray(images.labels).tobytes()).hexdigest()[:16]


def _wait_until_unlocked(run_dir: Path, timeout: float = 120) -> None:
    """A retried or rerun trial waits (a bounded time) for the process that trained into its folder
    before (a dead driver's worker Ray has not ended yet) to let go of it."""
    import time

    deadline = time.monotonic() + timeout
    while (run_dir / LOCK).exists():
        try:
            with RunLock(run_dir):
                return
        except LetterlabError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def train_trial(plan: TrialPlan, tune_report) -> dict:
    """Bring the trial's run folder to completion; returns (and reports last) its final result.
    Every report names the trial (variant, seed, run folder)."""
    import time

    import ray
    import torch

    from letterlab.api import Run
    from letterlab.pipeline import run_status, train_and_evaluate

    def report(values: dict) -> None:
        tune_report({"variant": plan.variant, "seed": plan.seed, "fold": plan.fold, "run": plan.run_dir} | values)

    started = time.perf_counter()
    torch.set_num_threads(plan.threads)  # this worker process's own setting: trials never oversubscribe
    config: RunConfig = run_from_dict(plan.config, f"trial {Path(plan.run_dir).parent.name}/{Path(plan.run_dir).name}")
    run_dir = Path(plan.run_dir)
    _wait_until_unlocked(run_dir)
    status = run_status(run_dir, config)
    if status == "different":
        raise LetterlabError(f"{run_dir}: holds a run with other settings")
    if status != "complete":
        if status == "fresh" and run_dir.exists():  # killed before its first checkpoint: start again
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        train_and_evaluate(config, run_dir, plan.device, resume=status == "interrupted", progress=False,
                           extra_hooks=(_report_epochs(report, config.train.epochs),))
    run = Run(run_dir, plan.device)
    test = run.evaluate()
    results = run.results
    final = {"epoch": results.epochs, "val_accuracy": results.val_accuracy, "test_accuracy": results.test_accuracy,
             "train_seconds": results.train_seconds, "test_n": test.n, "test_correct": pack_correct(test.correct),
             "test_digest": _digest(run.data()), "parameters": count_parameters(run.model),
             "status": "reused" if status == "complete" else ("resumed" if status == "interrupted" else "trained"),
             "node": ray.get_runtime_context().get_node_id(),
             "wall_seconds": time.perf_counter() - started}
    report(final)
    return final
