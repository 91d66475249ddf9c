"""A small residual net for 28x28 letters, in the style of the fast "ResNet-9" CIFAR-10 nets:
stages of conv-bn-relu, max-pool between stages, identity residual blocks, global average pooling.

With widths [32, 64, 128] the stages work at 28x28, 14x14 and 7x7. Pooling comes before each
later stage's first conv, so that conv already runs on 4x fewer positions; batch norm after every
conv lets the net train fast at high learning rates, and global average pooling replaces a large
fully-connected layer (a few hundred thousand parameters in all)."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from letterlab import NUM_CLASSES
from letterlab.models.layers import Dropout


def conv_bn_relu(channels_in: int, channels_out: int) -> nn.Sequential:
    """3x3 conv ('same' padding, no bias: batch norm has its own shift) -> batch norm -> ReLU."""
    return nn.Sequential(nn.Conv2d(channels_in, channels_out, 3, padding=1, bias=False),
                         nn.BatchNorm2d(channels_out), nn.ReLU())


class ResidualBlock(nn.Module):
    """x + f(f(x)) with f = conv_bn_relu at constant width and size (identity shortcut)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(conv_bn_relu(channels, channels), conv_bn_relu(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def build_resnet(widths: list[int], residual: list[int], dropout: float, classes: int = NUM_CLASSES) -> nn.Sequential:
    """Stage i: [max-pool 2 unless first] -> conv_bn_relu to widths[i] -> residual[i] residual blocks;
    then global average pooling, optional dropout and a linear layer to the classes (10: A-J)."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    channels = 1
    for stage, (width, blocks) in enumerate(zip(widths, residual), start=1):
        if stage > 1:
            layers[f"pool{stage}"] = nn.MaxPool2d(2)
        layers[f"conv{stage}"] = conv_bn_relu(channels, width)
        for block in range(1, blocks + 1):
            layers[f"res{stage}_{block}"] = ResidualBlock(width)
        channels = width
    layers["global_pool"] = nn.AdaptiveAvgPool2d(1)
    layers["flatten"] = nn.Flatten()
    if dropout:
        layers["dropout"] = Dropout(dropout)
    layers["out"] = nn.Linear(channels, classes)
    return nn.Sequential(layers)
