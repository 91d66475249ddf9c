"""Keras-style model summary: each layer's output shape and parameter count, and analytic FLOPs."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from letterlab import IMAGE_SIZE


@dataclass(frozen=True)
class LayerRow:
    name: str
    kind: str
    output_shape: tuple[int, ...]  # without the batch dimension
    parameters: int
    forward_flops: int  # multiply-adds x 2, per image


def describe(model: nn.Sequential) -> list[LayerRow]:
    """One row per layer, from a forward pass of one blank image. A layer's FLOPs are those of every
    matmul and convolution inside it (a residual block counts its convolutions)."""
    rows = []
    x = torch.zeros(1, 1, IMAGE_SIZE, IMAGE_SIZE)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for name, layer in model.named_children():
            counted: list[int] = []
            handles = [m.register_forward_hook(lambda m, _, output, counted=counted: counted.append(_flops(m, output)))
                       for m in layer.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
            try:
                y = layer(x)
            finally:
                for handle in handles:
                    handle.remove()
            rows.append(LayerRow(name, type(layer).__name__, tuple(y.shape[1:]), count_parameters(layer), sum(counted)))
            x = y
    model.train(was_training)
    return rows


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _flops(layer: nn.Module, output: torch.Tensor) -> int:
    if isinstance(layer, nn.Linear):
        return 2 * layer.in_features * layer.out_features
    if isinstance(layer, nn.Conv2d):
        kernel_macs = layer.in_channels // layer.groups * layer.kernel_size[0] * layer.kernel_size[1]
        return 2 * kernel_macs * output[0].numel()
    return 0


def training_flops_per_image(model: nn.Sequential) -> int:
    """Forward + backward of the matmuls and convolutions, counted as 3x the forward pass."""
    return 3 * sum(row.forward_flops for row in describe(model))
