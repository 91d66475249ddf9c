"""A trained run as a predictor: load it safely from its folder, predict whole data sets in batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from letterlab.models.build import build_model
from letterlab.models.inference import predict_logits
from letterlab.models.inputs import images_to_tensor
from letterlab.run_config import RunConfig
from letterlab.runs import read_classes, read_config
from letterlab.training.checkpoint import load_weights


def load_trained(run_dir: str | Path, device: torch.device | None = None) -> tuple[RunConfig, torch.nn.Module]:
    """The run's config and its final model (from model.safetensors, one output per class of the run) on
    `device` (default the CPU), in evaluation mode."""
    config = read_config(Path(run_dir))
    with torch.random.fork_rng(devices=[]):  # the random initialisation, overwritten at once, leaves the caller's RNG alone
        model = build_model(config.model, len(read_classes(Path(run_dir))))
    model = load_weights(Path(run_dir), model).to(device or "cpu").eval()
    return config, model


def load_teachers(run_dirs: list[str], classes: tuple[str, ...], device: torch.device) -> list[torch.nn.Module]:
    """The distillation teachers' final models (`TrainConfig.teachers`, letterlab.training.distill), each
    checked to predict the student's `classes`."""
    from letterlab.errors import LetterlabError

    teachers = []
    for run_dir in run_dirs:
        model = load_trained(run_dir, device)[1]
        if read_classes(Path(run_dir)) != tuple(classes):
            raise LetterlabError(f"{run_dir}: a teacher must predict the run's classes ({', '.join(classes)}), "
                                 f"this one predicts {', '.join(read_classes(Path(run_dir)))}")
        teachers.append(model)
    return teachers


def probabilities(model: torch.nn.Module, images: np.ndarray, device: torch.device, precision: str = "fp32", batch_size: int = 1000) -> np.ndarray:
    """Softmax probabilities (N, classes) for uint8 images (N, 28, 28)."""
    logits = predict_logits(model, images_to_tensor(images, device), batch_size, precision)
    return torch.softmax(logits, dim=1).cpu().numpy()
