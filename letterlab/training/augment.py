"""Random distortions of a training batch, suited to glyphs: small affine jitter (rotation, scale,
shear, translation), stroke width (a blend towards the dilated or eroded glyph) and elastic
distortion. No flips: a mirrored letter is another shape (or no letter at all).

Everything is vectorised on the (N, 1, 28, 28) batch (one affine_grid/grid_sample call, no loop
over images) and every random number comes from the given generator (the run's batch-order
generator), so augmented runs stay deterministic and resume exactly."""

from __future__ import annotations

import dataclasses
import math

import torch
from torch.nn import functional as F

from letterlab.run_config import AugmentConfig

ELASTIC_GRID = 4  # the random displacement is drawn on a 4x4 grid and upsampled: smooth by construction


def is_active(config: AugmentConfig) -> bool:
    return any(value > 0 for value in dataclasses.asdict(config).values())


def affine_theta(angle: torch.Tensor, scale: torch.Tensor, shear: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """(N, 2, 3) matrices for affine_grid, which maps each output position p to the input position
    A (p - shift): A = rotation(angle) @ shear(shear) / scale, so the glyph is moved by `shift` (N, 2)
    pixels and enlarged by `scale` about the image centre (angles in radians)."""
    cos, sin, tan = torch.cos(angle), torch.sin(angle), torch.tan(shear)
    a = torch.stack([torch.stack([cos, cos * tan - sin], 1), torch.stack([sin, sin * tan + cos], 1)], 1)
    a = a / scale[:, None, None]
    t = -torch.bmm(a, shift[:, :, None] * (2 / 28))  # pixels -> normalised coordinates ([-1, 1] across)
    return torch.cat([a, t], 2)


def warp(x: torch.Tensor, theta: torch.Tensor, displacement: torch.Tensor | None = None) -> torch.Tensor:
    """Resample images `x` (N, 1, H, W) through `theta`, plus an optional displacement field
    (N, H, W, 2) in normalised coordinates; outside the image is background (0)."""
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    if displacement is not None:
        grid = grid + displacement
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def stroke_width(x: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
    """Blend each image towards its 3x3 dilation (strength > 0: thicker strokes) or erosion
    (strength < 0: thinner) by |strength| in [0, 1]."""
    s = strength.to(x.dtype)[:, None, None, None]
    dilated = F.max_pool2d(x, 3, stride=1, padding=1)
    eroded = -F.max_pool2d(-x, 3, stride=1, padding=1)
    return torch.where(s > 0, x + s * (dilated - x), x - s * (eroded - x))


def augment_batch(x: torch.Tensor, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """A distorted copy of the batch `x` (N, 1, 28, 28), values in [0, 1]; `x` itself if nothing is on.

    Every batch of a given size draws the same count of random numbers from `generator` (for a given config)."""
    if not is_active(config):
        return x
    n = len(x)
    u = torch.rand(n, 6, generator=generator) * 2 - 1  # uniform in [-1, 1]: 6 numbers per image
    field = torch.rand(n, 2, ELASTIC_GRID, ELASTIC_GRID, generator=generator) * 2 - 1 if config.elastic else None
    u = u.to(x.device)
    if config.stroke:
        x = stroke_width(x, config.stroke * u[:, 0])
    theta = affine_theta(math.radians(config.rotate) * u[:, 1], 1 + config.scale * u[:, 2],
                         math.radians(config.shear) * u[:, 3], config.translate * u[:, 4:6])
    displacement = None
    if field is not None:  # pixels -> normalised coordinates; smooth via bicubic upsampling
        size = x.shape[-2:]
        displacement = F.interpolate(field.to(x.device) * (config.elastic * 2 / 28), size=size, mode="bicubic",
                                     align_corners=True).permute(0, 2, 3, 1)
    return warp(x, theta, displacement).clamp_(0, 1)
