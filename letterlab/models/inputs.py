"""What the models eat: float32 tensors (N, 1, 28, 28) in [0, 1], made once from uint8 images."""

from __future__ import annotations

import numpy as np
import torch


def images_to_tensor(images: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1] on `device`."""
    array = np.ascontiguousarray(images)
    if not array.flags.writeable:  # e.g. idx images straight from a file buffer: torch wants writable memory
        array = array.copy()
    return torch.from_numpy(array).to(device).unsqueeze(1).float().div_(255.0)


def pick_device(name: torch.device | str | None = "auto") -> torch.device:
    """A torch.device from a device or its name; "auto" or None means CUDA when available, else CPU."""
    if isinstance(name, torch.device):
        return name
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        from letterlab.errors import LetterlabError

        raise LetterlabError("--device cuda: no CUDA device is available here")
    return torch.device(name)
