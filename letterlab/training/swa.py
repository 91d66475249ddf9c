"""Stochastic weight averaging (`TrainConfig.swa_epochs`, Izmailov et al. 2018): the mean of the
weights at the ends of a run's last N epochs, which sits nearer the middle of a wide minimum than
any one of them.

`torch.optim.swa_utils.AveragedModel` keeps the running mean (it lives in `TrainingState.averaged`
and every checkpoint carries it, so a run killed while averaging resumes exactly). At the end the
averaged weights replace the live model's, after batch norm's statistics, which an average of
weights does not carry, are recomputed by `swa_utils.update_bn` over the training part in its
stored order (no augmentation, batches of `batch_size`). Each epoch's validation figures are the
live model's; the saved final model is the average, and results.json's validation and test
figures score it (`pipeline.train_and_evaluate`)."""

from __future__ import annotations

import torch
from torch.optim.swa_utils import AveragedModel, update_bn

from letterlab.run_config import TrainConfig


def averages(config: TrainConfig, epoch: int) -> bool:
    """True when the end of `epoch` (1-based) is one of the averaged ones."""
    return config.swa_epochs > 0 and epoch > config.epochs - config.swa_epochs


def update_average(averaged: AveragedModel | None, model: torch.nn.Module) -> AveragedModel:
    """`averaged` (None before the first averaged epoch: a new average of `model`) with `model`'s weights added."""
    if averaged is None:
        averaged = AveragedModel(model)
    averaged.update_parameters(model)
    return averaged


@torch.no_grad()
def finish_average(averaged: AveragedModel, model: torch.nn.Module, images: torch.Tensor, config: TrainConfig) -> None:
    """Put the average into `model`, with batch norm's statistics recomputed on `images` (N, 1, 28, 28)."""
    update_bn(images.split(config.batch_size), averaged.module)
    model.load_state_dict(averaged.module.state_dict())
