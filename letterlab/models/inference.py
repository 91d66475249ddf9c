"""Batched inference: logits for many images at once, never one image at a time."""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.nn import functional as F


def autocast(device: torch.device, precision: str):
    """bfloat16 autocast when asked for, else a no-op context. Without autocast's weight cache, which
    CUDA graph capture does not allow (our models use each weight once a pass: it saves nothing)."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=False)
    return contextlib.nullcontext()


def has_bf16_units(device: torch.device) -> bool:
    """Whether `device` computes in bfloat16 natively (a CPU with AVX512-BF16 or AMX, by oneDNN's
    check; a GPU of compute capability 8 or more). Elsewhere bf16 autocast is emulated: letters-best
    trained about 10x slower than in fp32 on an AVX2 CPU (bench/bench_precision.py, docs/performance.md)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return device.type == "cpu" and torch.ops.mkldnn._is_mkldnn_bf16_supported()


@torch.inference_mode()
def predict_logits(model: nn.Module, images: torch.Tensor, batch_size: int = 1000, precision: str = "fp32") -> torch.Tensor:
    """Float32 logits (N, classes) for float images (N, 1, 28, 28), in evaluation mode."""
    was_training = model.training
    model.eval()
    with autocast(images.device, precision):
        logits = [model(chunk).float() for chunk in images.split(batch_size)]
    model.train(was_training)
    return torch.cat(logits) if logits else torch.empty(0, output_classes(model), device=images.device)


def output_classes(model: nn.Module) -> int:
    """The number of classes a net predicts: the width of its last linear layer."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)][-1].out_features


def loss_from_logits(logits: torch.Tensor, labels: torch.Tensor, kind: str = "logits", reduction: str = "mean",
                     smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy (mean, or per image with reduction="none"). "double_softmax" reproduces the
    homework's bug: softmax applied to the output, which is then passed as logits to the softmax
    cross-entropy. `smoothing` > 0 (label smoothing): the target is 1 - smoothing on the true class
    plus smoothing / classes on every class."""
    if kind == "double_softmax":
        logits = F.softmax(logits, dim=1)
    return F.cross_entropy(logits, labels, reduction=reduction, label_smoothing=smoothing)
