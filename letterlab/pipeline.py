"""Orchestration, in one place under the API: a run's config comes in at the top and is handed down
to data (its splits), training (the run folder) and evaluation (its test scores). The API, the CLI
and `reproduce` all train through these functions.

Training draws from torch's global generator (initialisation, dropout); that state is saved before
and restored after each call here, so a caller's own random numbers are not disturbed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from letterlab.data.run_data import load_run_splits, load_splits
from letterlab.evaluation.epoch_hooks import DEFAULT_EPOCH_HOOKS
from letterlab.evaluation.probes import probes_per_epoch
from letterlab.evaluation.scoring import RunResults, score, write_results
from letterlab.models.inputs import pick_device
from letterlab.run_config import RunConfig


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
    """Train into `run_dir` (fresh, or resumed from its checkpoint), then score the test part;
    writes results.json and confusion.txt."""
    from letterlab.training.session import train_run

    device = pick_device(device)
    splits = load_run_splits(run_dir, config) if resume else load_splits(config)
    announce(f"data: {splits.train.source}: train {len(splits.train)}, validation {len(splits.val)}, test {len(splits.test)}")
    with _own_rng(device):
        state = train_run(config, run_dir, splits, device, resume=resume, progress=progress,
                          extra_hooks=epoch_hooks(config, extra_hooks))
    return write_results(config, run_dir, score(state.model, splits.test, device, config.train.precision, config.train.loss))


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
