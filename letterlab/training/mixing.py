"""Mixup and CutMix of a training batch (`TrainConfig.mix`): every image is mixed with the image a
random permutation of the batch pairs it with, and the loss is the same mix of the two labels'
cross-entropies.

One weight `lam` ~ Beta(alpha, alpha) per batch, as in both papers' reference code (Zhang et al.
2018, Yun et al. 2019): "mixup" blends the whole images, lam * x + (1 - lam) * x[perm]; "cutmix"
pastes a box of x[perm] covering about 1 - lam of the frame into x, and lam is then set to the share
of the frame left uncovered, so the labels' weights are the pixel shares exactly. Each batch draws
one uniform number (lam, through Beta's inverse CDF), two more for the box centre with cutmix, and a
permutation of the batch, all from the run's batch generator: a fixed count per batch of a given
size, so mixed runs are deterministic and resume exactly."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from letterlab.models.inference import loss_from_logits


@dataclass
class MixedBatch:
    images: torch.Tensor  # (N, 1, H, W)
    partner: torch.Tensor  # (N,) the label of the image each one was mixed with
    lam: float  # weight of the image's own label; 1 - lam is the partner's

    def dominant(self, labels: torch.Tensor) -> torch.Tensor:
        """The label with the larger weight, per image (own label on a tie): what train accuracy is scored against."""
        return labels if self.lam >= 0.5 else self.partner


def beta_sample(alpha: float, generator: torch.Generator) -> float:
    """One draw of Beta(alpha, alpha) from a uniform number of `generator` (inverse CDF)."""
    from scipy.special import betaincinv  # imported only by mixed runs

    return float(betaincinv(alpha, alpha, torch.rand(1, generator=generator).item()))


def cutmix_box(lam: float, centre: torch.Tensor, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) pixel bounds of a box with sides sqrt(1 - lam) of the frame's,
    centred at `centre` (2 numbers in [0, 1): row and column as shares of the frame), clipped to the frame."""
    height, width = size
    side = (1 - lam) ** 0.5
    bounds = []
    for share, extent in zip(centre.tolist(), (height, width)):
        middle, half = share * extent, side * extent / 2
        bounds += [int(min(max(round(middle - half), 0), extent)), int(min(max(round(middle + half), 0), extent))]
    return bounds[0], bounds[1], bounds[2], bounds[3]


def mix_batch(images: torch.Tensor, labels: torch.Tensor, kind: str, alpha: float, generator: torch.Generator) -> MixedBatch:
    """The batch `images` (N, 1, H, W) with labels (N,) mixed by `kind` ("mixup" or "cutmix")."""
    lam = beta_sample(alpha, generator)
    centre = torch.rand(2, generator=generator) if kind == "cutmix" else None
    perm = torch.randperm(len(images), generator=generator).to(images.device)
    if kind == "mixup":
        mixed = images * lam + images[perm] * (1 - lam)
    else:
        top, bottom, left, right = cutmix_box(lam, centre, images.shape[-2:])
        mixed = images.clone()
        mixed[..., top:bottom, left:right] = images[perm][..., top:bottom, left:right]
        lam = 1 - (bottom - top) * (right - left) / (images.shape[-2] * images.shape[-1])
    return MixedBatch(mixed, labels[perm], lam)


def mixed_loss(logits: torch.Tensor, labels: torch.Tensor, batch: MixedBatch, kind: str, smoothing: float) -> torch.Tensor:
    """lam * CE(own labels) + (1 - lam) * CE(partners' labels), each with the run's label smoothing."""
    own = loss_from_logits(logits, labels, kind, smoothing=smoothing)
    partner = loss_from_logits(logits, batch.partner, kind, smoothing=smoothing)
    return batch.lam * own + (1 - batch.lam) * partner
