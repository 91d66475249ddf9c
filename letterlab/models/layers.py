"""Small layers the nets share: activation lookup, a fast dropout, batch norm with a choice of
statistics at evaluation."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

ACTIVATION_MODULES = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}


def activation(name: str) -> nn.Module:
    return ACTIVATION_MODULES[name]()


class Dropout(nn.Module):
    """Inverted dropout with a mask drawn by `rand_like`: the same function as nn.Dropout, and
    faster on a CPU (docs/performance.md)."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = torch.rand_like(x) >= self.p
        return x * keep * (1.0 / (1.0 - self.p))

    def extra_repr(self) -> str:
        return f"p={self.p}"


class BatchNorm2d(nn.BatchNorm2d):
    """Batch norm whose evaluation uses either running statistics (PyTorch's default) or the
    statistics of the batch being evaluated, as the homework's `tf.nn.moments` code did."""

    def __init__(self, channels: int, eval_statistics: str = "running"):
        super().__init__(channels)
        self.eval_statistics = eval_statistics

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or self.eval_statistics == "running":
            return super().forward(x)
        return F.batch_norm(x, None, None, self.weight, self.bias, training=True, eps=self.eps)


class EvenKernelConv2d(nn.Conv2d):
    """A stride-1 convolution with an even kernel and TensorFlow's 'SAME' padding: kernel - 1 zeros
    in all, one less before than after, so the output keeps the input's size. (PyTorch's
    padding="same" computes the same but warns on every even kernel.)"""

    def __init__(self, channels_in: int, channels_out: int, kernel: int):
        super().__init__(channels_in, channels_out, kernel)
        self.same_padding = ((kernel - 1) // 2, kernel // 2) * 2  # left, right, top, bottom

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self.same_padding))
