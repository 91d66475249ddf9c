"""A trained run as a predictor: load it safely from its folder, score whole data sets in batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from letterlab.config import RunConfig
from letterlab.data.dataset import LetterImages
from letterlab.evaluation.metrics import accuracy, confusion_matrix, per_class_scores
from letterlab.models.build import build_model
from letterlab.models.inference import loss_from_logits, predict_logits
from letterlab.models.inputs import images_to_tensor
from letterlab.training.checkpoint import load_weights
from letterlab.training.run_folder import read_config


def load_trained(run_dir: str | Path, device: torch.device = torch.device("cpu")) -> tuple[RunConfig, torch.nn.Module]:
    """The run's config and its final model (from model.safetensors), in evaluation mode."""
    config = read_config(Path(run_dir))
    model = load_weights(Path(run_dir), build_model(config.model)).to(device).eval()
    return config, model


def probabilities(model: torch.nn.Module, images: np.ndarray, device: torch.device, precision: str = "fp32", batch_size: int = 1000) -> np.ndarray:
    """Softmax probabilities (N, 10) for uint8 images (N, 28, 28)."""
    logits = predict_logits(model, images_to_tensor(images, device), batch_size, precision)
    return torch.softmax(logits, dim=1).cpu().numpy()


def score(model: torch.nn.Module, data: LetterImages, device: torch.device, precision: str = "fp32", loss: str = "logits") -> dict:
    """Accuracy, n, loss (as the run was trained: `loss` is TrainConfig.loss), confusion matrix and
    per-class precision/recall/F1 on every image of `data`."""
    logits = predict_logits(model, images_to_tensor(data.images, device), precision=precision)
    labels = torch.from_numpy(data.labels).to(device)
    confusion = confusion_matrix(data.labels, logits.argmax(1).cpu().numpy())
    return {
        "source": data.source,
        "n": int(len(data)),
        "accuracy": accuracy(confusion),
        "loss": loss_from_logits(logits, labels, loss).item() if len(data) else float("nan"),
        "confusion": confusion.tolist(),
        "per_class": per_class_scores(confusion),
    }
