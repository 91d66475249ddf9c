"""Orchestration, in one place under the API: a run's config comes in at the top and is handed down
to data (its splits), training (the run folder) and evaluation (its test scores). The API (and so
the CLI) trains through these functions; `reproduce` plans the homework's runs and brings each to
completion here (reusing finished runs, resuming interrupted ones, inspecting each for the report).

Training draws from torch's global generator (initialisation, dropout); that state is saved before
and restored after each call here, so a caller's own random numbers are not disturbed."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from letterlab.data.run_data import load_run_splits, load_splits
from letterlab.errors import LetterlabError
from letterlab.evaluation.epoch_hooks import DEFAULT_EPOCH_HOOKS
from letterlab.evaluation.probes import probes_per_epoch
from letterlab.evaluation.scoring import RunResults, score, write_results
from letterlab.evaluation.trained import load_teachers
from letterlab.models.inputs import pick_device
from letterlab.models.presets import HOMEWORK_PRESETS
from letterlab.reports.profiles import profile_config
from letterlab.run_config import RunConfig
from letterlab.runs import CHECKPOINT_INFO, CONFIG, RESULTS, read_config


def epoch_hooks(config: RunConfig, extra_hooks=()) -> tuple:
    """The evaluation-layer hooks every run gets: confusion matrix each epoch, and probes if asked."""
    return DEFAULT_EPOCH_HOOKS + ((probes_per_epoch,) if config.train.log_probes else ()) + tuple(extra_hooks)


def _own_rng(device: torch.device):
    """torch's global RNG state (and the GPU's, on one) restored on leaving."""
    if device.type == "cuda":
        return torch.random.fork_rng(devices=[device], device_type="cuda")
    return torch.random.fork_rng(devices=[])


def train_and_evaluate(config: RunConfig, run_dir: Path, device=None, *, resume: bool = False, progress: bool | None = None,
                       extra_hooks=(), announce: Callable[[str], None] = lambda _: None) -> RunResults:
    """Train into `run_dir` (fresh, or resumed from its checkpoint; distilled from the config's
    teachers, if any), then score the test part; writes results.json and confusion.txt."""
    from letterlab.training.session import train_run

    device = pick_device(device)
    splits = load_run_splits(run_dir, config) if resume else load_splits(config)
    announce(f"data: {splits.train.source}: train {len(splits.train)}, validation {len(splits.val)}, test {len(splits.test)}")
    teachers = load_teachers(config.train.teachers, splits.classes, device)
    with _own_rng(device):
        state = train_run(config, run_dir, splits, device, resume=resume, progress=progress,
                          extra_hooks=epoch_hooks(config, extra_hooks), teachers=teachers)
    t = config.train
    # a weight average is not the last epoch's model, whose validation figures the metrics hold
    val = score(state.model, splits.val, device, t.precision, t.loss) if state.averaged is not None and len(splits.val) else None
    return write_results(config, run_dir, score(state.model, splits.test, device, t.precision, t.loss), val)


def train_seeds_and_evaluate(configs: list[RunConfig], run_dirs: list[Path], device=None,
                             announce: Callable[[str], None] = lambda _: None) -> list[RunResults]:
    """Runs that differ only in seed, trained together (`training.stacked`), each then scored on its
    test part like `train_and_evaluate`."""
    from letterlab.training.stacked import train_stacked

    device = pick_device(device)
    splits = load_splits(configs[0])  # the seeds differ only in `seed`, not in their data
    announce(f"data: {splits.train.source}: train {len(splits.train)}, validation {len(splits.val)}, "
             f"test {len(splits.test)}; {len(configs)} seeds trained together")
    with _own_rng(device):
        models = train_stacked(configs, run_dirs, splits, device, extra_hooks=epoch_hooks(configs[0]))
    return [write_results(config, run_dir, score(model, splits.test, device, config.train.precision, config.train.loss))
            for config, run_dir, model in zip(configs, run_dirs, models)]


MLP_PRESETS = [name for name in HOMEWORK_PRESETS if name.startswith("mlp-")]


@dataclass(frozen=True)
class PlannedRun:
    name: str  # run folder name under the output folder, e.g. "mlp-tanh-50-seed0"
    config: RunConfig


def plan_runs(presets: list[str], profile: str, seeds: int = 1, faithful: bool = False, data: str = "") -> list[PlannedRun]:
    """One run per preset and seed; with `faithful`, the MLPs once more with the double-softmax bug."""
    if seeds < 1:
        raise LetterlabError(f"--seeds must be at least 1, got {seeds}")
    variants = [(name, False) for name in presets]
    if faithful:
        variants += [(name, True) for name in presets if name in MLP_PRESETS]
    plan = []
    for name, double_softmax in variants:
        for seed in range(seeds):
            folder = f"{name}{'-double-softmax' if double_softmax else ''}-seed{seed}"
            plan.append(PlannedRun(folder, profile_config(name, profile, seed=seed, double_softmax=double_softmax, data=data)))
    return plan


def run_status(run_dir: Path, config: RunConfig) -> str:
    """"complete", "interrupted" (a checkpoint to resume from), "fresh" (nothing usable), or
    "different" (a run with another config is there)."""
    if not (run_dir / CONFIG).exists():
        return "fresh"
    try:
        same = read_config(run_dir) == config
    except LetterlabError:
        return "different"
    if not same:
        return "different"
    if (run_dir / RESULTS).exists():
        return "complete"
    return "interrupted" if (run_dir / CHECKPOINT_INFO).exists() else "fresh"


def train_planned(out: Path, plan: list[PlannedRun], *, force: bool = False, device=None,
              progress: bool | None = None, announce: Callable[[str], None] = print) -> dict[str, str]:
    """Bring every planned run in `out` to completion; returns what was done with each run. Fresh
    seeds of an MLP are trained together as one stacked model (`training.stacked`)."""
    from letterlab.training.stacked import can_stack

    out.mkdir(parents=True, exist_ok=True)
    status = {}
    for run in plan:
        status[run.name] = "fresh" if force else run_status(out / run.name, run.config)
        if status[run.name] == "different":
            raise LetterlabError(f"{out / run.name}: holds a run with other settings; use --force to retrain it or choose another --out")
    done, number = {}, {run.name: i for i, run in enumerate(plan, start=1)}
    prefix = lambda run: f"[{number[run.name]}/{len(plan)}] {run.name}:"  # noqa: E731
    for run in plan:
        if run.name in done:
            continue
        run_dir = out / run.name
        if status[run.name] == "complete":
            announce(f"{prefix(run)} complete, reused")
            done[run.name] = "reused"
            _inspect(run_dir, device, announce, prefix(run))
            continue
        siblings = [other for other in plan if status[other.name] == "fresh" and other.name not in done
                    and can_stack([run.config, other.config])] if status[run.name] == "fresh" else []
        group = siblings if len(siblings) > 1 else [run]
        for member in group:
            if status[member.name] == "fresh" and (out / member.name).exists():
                shutil.rmtree(out / member.name)
            (out / member.name).mkdir(parents=True, exist_ok=True)
        if len(group) > 1:
            announce(f"{prefix(run)} training {run.config.train.epochs} epochs together with "
                     f"{', '.join(member.name for member in group[1:])}")
            all_results = train_seeds_and_evaluate([m.config for m in group], [out / m.name for m in group], device)
        else:
            announce(f"{prefix(run)} {'resuming' if status[run.name] == 'interrupted' else 'training'} {run.config.train.epochs} epochs")
            all_results = [train_and_evaluate(run.config, run_dir, device, resume=status[run.name] == "interrupted", progress=progress)]
        for member, results in zip(group, all_results):
            announce(f"{prefix(member)} test accuracy {results.test_accuracy:.4f}, {results.train_seconds:.1f} s of training")
            done[member.name] = "resumed" if status[member.name] == "interrupted" else "trained"
            _inspect(out / member.name, device, announce, prefix(member))
    return done


def _inspect(run_dir: Path, device, announce: Callable[[str], None], prefix: str) -> None:
    """Error grids, filters, feature maps, saliency and calibration for the report, once per run."""
    from letterlab.reports.inspection import inspect_for_report
    from letterlab.runs import INSPECTION

    if not (run_dir / INSPECTION).exists():
        record = inspect_for_report(run_dir, device)
        low, high = record["ci95"]
        announce(f"{prefix} inspected: accuracy {record['accuracy']:.4f} (95% CI {low:.4f}-{high:.4f}), "
                 f"ECE {record['ece_before']:.4f} -> {record['ece_after']:.4f} after temperature scaling")
