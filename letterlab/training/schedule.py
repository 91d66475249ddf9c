"""Learning-rate schedules, stepped every batch.

The rate is a pure function of the global step (batches done), so a resumed run needs no
scheduler state beyond the step its checkpoint already carries."""

from __future__ import annotations

import math

import torch

from letterlab.run_config import TrainConfig

ONE_CYCLE_START = 1 / 25  # one-cycle warm-up starts at lr / 25 (as in Smith's one-cycle policy)


def learning_rate(config: TrainConfig, step: int, total_steps: int) -> float:
    """The rate for the batch after `step` batches of `total_steps` (0 <= step < total_steps).

    "constant": lr. "cosine": linear warm-up from 0 over the first warmup_fraction of the batches,
    then lr * (1 + cos(pi * t)) / 2 with t going 0 -> 1 over the rest. "one_cycle": linear warm-up
    from lr / 25 to lr, then linear down towards 0.

    With `swa_lr` > 0 the schedule (its warm-up share included) spans only the batches before the
    averaged epochs (the last `swa_epochs`), its decay ends at swa_lr instead of 0 (a "constant"
    schedule keeps lr and then steps to swa_lr), and the averaged epochs keep swa_lr: the weights
    go on moving while they are averaged (Izmailov et al. 2018)."""
    end = 0.0
    if config.swa_lr > 0:
        averaged_from = total_steps * (config.epochs - config.swa_epochs) // config.epochs  # validate: 0 < swa_epochs < epochs
        if step >= averaged_from:
            return config.swa_lr
        total_steps, end = averaged_from, config.swa_lr
    if config.schedule == "constant":
        return config.lr
    warmup = round(config.warmup_fraction * total_steps)
    if step < warmup:
        start = 0.0 if config.schedule == "cosine" else config.lr * ONE_CYCLE_START
        return start + (config.lr - start) * (step + 1) / warmup
    t = (step - warmup) / max(total_steps - warmup, 1)  # 0 at the end of warm-up, -> 1 at the end
    if config.schedule == "cosine":
        return end + (config.lr - end) * (1 + math.cos(math.pi * t)) / 2
    return end + (config.lr - end) * (1 - t)


def constant_rate(config: TrainConfig) -> bool:
    """Whether every batch of the run gets the same rate (`lr`)."""
    return config.schedule == "constant" and config.swa_lr == 0


def total_steps(config: TrainConfig, per_epoch: int) -> int:
    """Batches in the whole run, the length the schedule spans."""
    return per_epoch * config.epochs


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
