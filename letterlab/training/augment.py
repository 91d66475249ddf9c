"""Random distortions of a training batch, suited to glyphs: small affine jitter (rotation, scale,
shear, translation), stroke width (a blend towards the dilated or eroded glyph), elastic
distortion, and what differs from font to font: aspect ratio, where the glyph's box is cropped
(`crop`, see `recrop`), how soft its edges are (`blur`) and how the glyph is filled (`style`: an
outline, a dark glyph on a light square, stripes or a drop shadow, as display faces draw it). No flips: a mirrored letter is
another shape (or no letter at all).

Everything is vectorised on the (N, 1, 28, 28) batch (one affine_grid/grid_sample call, no loop
over images) and every random number comes from the given generator (the run's batch-order
generator), so augmented runs stay deterministic and resume exactly. The font-like distortions
draw their numbers after the others' and only when one of them is on, and the fill styles theirs
after those and only when `style` is on, so a config without them draws (and gives) exactly what it
did before they existed."""

from __future__ import annotations

import dataclasses
import math

import torch
from torch.nn import functional as F

from letterlab.run_config import AugmentConfig

ELASTIC_GRID = 4  # the random displacement is drawn on a 4x4 grid and upsampled: smooth by construction
OUTSIDE = 3.0  # a normalised coordinate far outside the image: grid_sample reads background (0) there


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


def warp(x: torch.Tensor, theta: torch.Tensor, displacement: torch.Tensor | None = None,
         window: torch.Tensor | None = None) -> torch.Tensor:
    """Resample images `x` (N, 1, H, W) through `theta`, plus an optional displacement field
    (N, H, W, 2) in normalised coordinates; outside the image is background (0), and so is
    everything outside `window` (N, 2, 2): per image, (low, high) of x and of y, normalised."""
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    if displacement is not None:
        grid = grid + displacement
    if window is not None:
        low, high = window[:, None, None, :, 0].to(x.dtype), window[:, None, None, :, 1].to(x.dtype)
        outside = ((grid < low) | (grid > high)).any(-1, keepdim=True)
        grid = grid.masked_fill(outside, OUTSIDE)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def stretch(theta: torch.Tensor, log_ratio: torch.Tensor) -> torch.Tensor:
    """`theta` with the glyph first made exp(log_ratio) (N,) times wider than high, its area kept:
    width times exp(log_ratio / 2), height divided by it."""
    half = log_ratio.to(theta.dtype) / 2
    return theta * torch.stack([torch.exp(-half), torch.exp(half)], 1)[:, :, None]


def ink_box(x: torch.Tensor) -> torch.Tensor:
    """(N, 2, 2): per image, the (low, high) edges in normalised coordinates of the x and y extent of
    its ink (pixels > 0); the whole frame for an empty image."""
    ink = x[:, 0] > 0  # (N, H, W)
    edges = []
    for along, extent in ((ink.any(1), x.shape[-1]), (ink.any(2), x.shape[-2])):  # columns, then rows
        found = along.any(1)
        first = torch.where(found, along.byte().argmax(1), 0)
        last = torch.where(found, extent - 1 - along.flip(1).byte().argmax(1), extent - 1)
        edges.append(torch.stack([first * 2 / extent - 1, (last + 1) * 2 / extent - 1], 1))
    return torch.stack(edges, 1).to(x.dtype)


def recrop(theta: torch.Tensor, box: torch.Tensor, moves: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`theta` preceded by a re-crop, and the crop's window for `warp`: each edge of the glyph's `box`
    (N, 2, 2, from `ink_box`) moved out by `moves` (N, 2, 2, shares of the box's size; negative: in),
    and that crop mapped back onto the box, everything outside it background. notMNIST's glyphs fill
    the frame (its renderer scaled each glyph's box to 28x28), so this is another crop of the same
    glyph scaled to fill the frame; a glyph with margins keeps them."""
    size = box[..., 1] - box[..., 0]  # (N, 2)
    crop = box + moves * size[..., None] * torch.tensor([-1.0, 1.0], dtype=box.dtype, device=box.device)
    factor = (crop[..., 1] - crop[..., 0]) / size  # input = offset + factor * (position in the box)
    offset = crop[..., 0] - box[..., 0] * factor
    theta = theta * factor[:, :, None]
    return torch.cat([theta[..., :2], theta[..., 2:] + offset[..., None]], 2), crop


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor, radius: int) -> torch.Tensor:
    """Each image (N, 1, H, W) blurred by a Gaussian of its own `sigma` (N,) pixels (0: unchanged),
    kernel 2 * radius + 1 wide, separable: one grouped convolution per axis."""
    n = len(x)
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    weights = torch.exp(-offsets**2 / (2 * sigma.to(x.dtype).clamp_min(1e-3)[:, None] ** 2))  # sigma ~0: exactly a delta
    weights = weights / weights.sum(1, keepdim=True)
    rows = F.conv2d(x.reshape(1, n, *x.shape[-2:]), weights.view(n, 1, 1, -1), padding=(0, radius), groups=n)
    return F.conv2d(rows, weights.view(n, 1, -1, 1), padding=(radius, 0), groups=n).view_as(x)


def stroke_width(x: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
    """Blend each image towards its 3x3 dilation (strength > 0: thicker strokes) or erosion
    (strength < 0: thinner) by |strength| in [0, 1]."""
    s = strength.to(x.dtype)[:, None, None, None]
    dilated = F.max_pool2d(x, 3, stride=1, padding=1)
    eroded = -F.max_pool2d(-x, 3, stride=1, padding=1)
    return torch.where(s > 0, x + s * (dilated - x), x - s * (eroded - x))


STYLES = ("outline", "inverse", "stripes", "shadow")


def restyle(x: torch.Tensor, kind: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Each image (N, 1, H, W, values in [0, 1]) redrawn in the fill style STYLES[kind[i]] (kind -1:
    unchanged), with two style parameters a, b (N,) in [0, 1):
    - outline: the glyph's edge, its 3x3 dilation less its 3x3 erosion (a band about 2 px wide; the
      frame counts as background, so a glyph touching it is outlined there too; strokes under 3 px
      wide stay solid, thickened);
    - inverse: 1 - x, a dark glyph on a light square (notMNIST's "NEG" faces);
    - stripes: the ink kept on stripes of period 2 + 3a pixels at the angle pi b (half of each period);
    - shadow: a copy at 55% grey behind the glyph, moved 1, 2 or 3 pixels (1 + floor(3a)) towards the
      diagonal floor(4b) (right-down, right-up, left-down, left-up)."""
    n = len(x)
    dilated = F.max_pool2d(x, 3, stride=1, padding=1)
    eroded = -F.max_pool2d(-F.pad(x, (1, 1, 1, 1)), 3, stride=1)  # zeros around: ink at the frame erodes too
    rows, cols = torch.meshgrid(torch.arange(x.shape[-2], dtype=x.dtype, device=x.device),
                                torch.arange(x.shape[-1], dtype=x.dtype, device=x.device), indexing="ij")
    angle, period = (math.pi * b).to(x.dtype)[:, None, None, None], (2 + 3 * a).to(x.dtype)[:, None, None, None]
    # + 0.5: a phase that keeps the stripes' edges off the pixel centres along the axes
    stripes = torch.remainder((rows * torch.sin(angle) + cols * torch.cos(angle) + 0.5) / period, 1) < 0.5
    direction = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]], device=x.device)[torch.floor(4 * b).long()]
    offset = (1 + torch.floor(3 * a))[:, None] * direction
    zero = torch.zeros(n, device=x.device)
    shadow = warp(x, affine_theta(zero, torch.ones(n, device=x.device), zero, offset))
    styled = torch.stack([dilated - eroded, 1 - x, x * stripes, torch.maximum(x, 0.55 * shadow)])  # (4, N, 1, H, W)
    chosen = styled.gather(0, kind.clamp_min(0).view(1, n, 1, 1, 1).expand(1, *x.shape))[0]
    return torch.where((kind >= 0).view(n, 1, 1, 1), chosen, x)


def augment_batch(x: torch.Tensor, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """A distorted copy of the batch `x` (N, 1, 28, 28), values in [0, 1]; `x` itself if nothing is on.

    Every batch of a given size draws the same count of random numbers from `generator` (for a given config)."""
    if not is_active(config):
        return x
    n = len(x)
    u = torch.rand(n, 6, generator=generator) * 2 - 1  # uniform in [-1, 1]: 6 numbers per image
    field = torch.rand(n, 2, ELASTIC_GRID, ELASTIC_GRID, generator=generator) * 2 - 1 if config.elastic else None
    # 6 more per image, only when a font-like distortion is on: aspect, the crop's 4 edges, blur
    v = torch.rand(n, 6, generator=generator).to(x.device) * 2 - 1 if config.aspect or config.crop or config.blur else None
    # 4 more per image, only with `style`: whether it is restyled, the style and its two parameters
    w = torch.rand(n, 4, generator=generator).to(x.device) if config.style else None
    u = u.to(x.device)
    if config.stroke:
        x = stroke_width(x, config.stroke * u[:, 0])
    theta = affine_theta(math.radians(config.rotate) * u[:, 1], 1 + config.scale * u[:, 2],
                         math.radians(config.shear) * u[:, 3], config.translate * u[:, 4:6])
    if config.aspect:
        theta = stretch(theta, config.aspect * v[:, 0])
    window = None
    if config.crop:
        theta, window = recrop(theta, ink_box(x), config.crop * v[:, 1:5].view(n, 2, 2))
    displacement = None
    if field is not None:  # pixels -> normalised coordinates; smooth via bicubic upsampling
        size = x.shape[-2:]
        displacement = F.interpolate(field.to(x.device) * (config.elastic * 2 / 28), size=size, mode="bicubic",
                                     align_corners=True).permute(0, 2, 3, 1)
    x = warp(x, theta, displacement, window)
    if config.blur:
        x = gaussian_blur(x, config.blur * (v[:, 5] + 1) / 2, math.ceil(3 * config.blur))
    if w is not None:
        kind = torch.where(w[:, 0] < config.style, torch.floor(w[:, 1] * len(STYLES)).long().clamp_max(len(STYLES) - 1), -1)
        x = restyle(x.clamp(0, 1), kind, w[:, 2], w[:, 3])
    return x.clamp_(0, 1)
