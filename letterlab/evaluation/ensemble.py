"""Test-time augmentation (TTA) and ensembles of runs: average the softmax probabilities of
several views of each image and/or several trained runs (e.g. the same preset with seeds 0, 1, 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from letterlab.data.dataset import LetterImages, classes_text
from letterlab.errors import LetterlabError
from letterlab.evaluation.scoring import Evaluation, evaluation_from_probabilities
from letterlab.evaluation.trained import load_trained
from letterlab.models.inference import predict_logits
from letterlab.models.inputs import images_to_tensor
from letterlab.runs import read_classes
from letterlab.training.augment import affine_theta, warp

# TTA views as (scale, shift x, shift y in pixels): the image itself, one-pixel shifts and a slightly
# smaller and larger glyph: the kinds of variation training augmentation taught the net to ignore.
TTA_VIEWS = [(1.0, 0, 0), (1.0, 1, 0), (1.0, -1, 0), (1.0, 0, 1), (1.0, 0, -1), (0.93, 0, 0), (1.07, 0, 0)]


def view(x: torch.Tensor, scale: float, dx: float, dy: float) -> torch.Tensor:
    """The batch `x` (N, 1, 28, 28) zoomed by `scale` and moved by (dx, dy) pixels."""
    if (scale, dx, dy) == (1.0, 0, 0):
        return x
    n = len(x)
    zeros = torch.zeros(n, device=x.device)
    shift = torch.tensor([dx, dy], dtype=torch.float32, device=x.device).expand(n, 2)
    return warp(x, affine_theta(zeros, torch.full((n,), scale, device=x.device), zeros, shift))


def model_probabilities(model: torch.nn.Module, x: torch.Tensor, precision: str = "fp32", tta: bool = False) -> torch.Tensor:
    """Softmax probabilities (N, classes): of the images themselves, or averaged over the TTA views."""
    views = TTA_VIEWS if tta else TTA_VIEWS[:1]
    return torch.stack([torch.softmax(predict_logits(model, view(x, *v), precision=precision), 1) for v in views]).mean(0)


def ensemble_probabilities(run_dirs: list[Path], images: np.ndarray, device: torch.device, tta: bool = False) -> np.ndarray:
    """Probabilities (N, classes) for uint8 images (N, 28, 28), averaged over the runs (and views); the runs
    must have the same classes."""
    x = images_to_tensor(images, device)
    classes = read_classes(run_dirs[0])
    total = 0
    for run_dir in run_dirs:
        if read_classes(run_dir) != classes:
            raise LetterlabError(f"{run_dir}: {classes_text(read_classes(run_dir))} differ from {run_dirs[0]}'s {classes_text(classes)}")
        config, model = load_trained(run_dir, device)
        total = total + model_probabilities(model, x, config.train.precision, tta)
    return (total / len(run_dirs)).cpu().numpy()


def score_ensemble(run_dirs: list[Path], data: LetterImages, device: torch.device, tta: bool = False) -> Evaluation:
    """The Evaluation of the averaged prediction; its loss is the negative log of the averaged
    probability of the true letter."""
    probs = ensemble_probabilities(run_dirs, data.images, device, tta)
    picked = probs[np.arange(len(probs)), data.labels]
    loss = float(-np.log(np.clip(picked, 1e-12, None)).mean()) if len(data) else float("nan")
    return evaluation_from_probabilities(data, probs, loss)
