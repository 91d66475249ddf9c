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
            handles = [m.register_forward_hook(lambda m, _, output: counted.append(_flops(m, output)))
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


def format_summary(model: nn.Sequential, title: str = "") -> str:
    rows = describe(model)
    lines = [f"Model: {title}" if title else "Model", "=" * 66, f"{'Layer (type)':<32}{'Output shape':<20}{'Param #':>14}", "=" * 66]
    for row in rows:
        shape = "(None, " + ", ".join(map(str, row.output_shape)) + ")"
        lines.append(f"{row.name + ' (' + row.kind + ')':<32}{shape:<20}{row.parameters:>14,}")
    total = sum(row.parameters for row in rows)
    flops = 3 * sum(row.forward_flops for row in rows)
    lines += ["=" * 66, f"Total params: {total:,}", f"Training FLOPs per image: {flops / 1e6:,.2f} M", ""]
    return "\n".join(lines)
