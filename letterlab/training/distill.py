"""Distillation from an ensemble of finished runs (`TrainConfig.teachers`; Hinton et al. 2015): the
student follows, besides the labels, the teachers' mean probabilities at temperature T on each of
its training batches, as it sees them (after augmentation and mixing), so it learns what the
ensemble has learnt about every letter's likeness to the others.

The teachers are in evaluation mode and draw no random numbers, so a distilled run stays
deterministic and resumes exactly; they are not in its checkpoints but loaded again from their run
folders (letterlab.evaluation.trained.load_teachers), which must not change meanwhile."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from letterlab.models.inference import autocast


@torch.no_grad()
def ensemble_probabilities(teachers: list[torch.nn.Module], images: torch.Tensor, temperature: float, precision: str) -> torch.Tensor:
    """(N, classes): the mean over `teachers` of softmax(logits / temperature)."""
    with autocast(images.device, precision):
        logits = [teacher(images).float() for teacher in teachers]
    return torch.stack([F.softmax(z / temperature, 1) for z in logits]).mean(0)


def distillation_loss(logits: torch.Tensor, target: torch.Tensor, temperature: float) -> torch.Tensor:
    """T^2 * KL(target || softmax(logits / T)), the mean over the batch; T^2 keeps its gradients the
    size of the cross-entropy's whatever T is."""
    return F.kl_div(F.log_softmax(logits / temperature, 1), target, reduction="batchmean") * temperature**2
