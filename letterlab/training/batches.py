"""Batch orders, made in one vectorised call per epoch (no per-sample Python work)."""

from __future__ import annotations

import torch


def epoch_order(n: int, batch_size: int, order: str, generator: torch.Generator) -> tuple[torch.Tensor, int]:
    """(indices, batch size) for one epoch: batch k is `indices[k * size:(k + 1) * size]`.

    "shuffle": one permutation (the last batch may be short).
    "random": the homework's `next_batch`: every batch an independent draw of `batch_size` distinct
    indices, `n // batch_size + 1` batches an epoch (so some images are seen twice, some never)."""
    if order == "shuffle":
        return torch.randperm(n, generator=generator), batch_size
    if order == "random":
        count, size = n // batch_size + 1, min(batch_size, n)
        # Keys of independent uniform draws; the `size` smallest of each row are a uniform sample
        # without replacement, the same distribution as shuffling and taking the first `size`.
        keys = torch.rand(count, n, generator=generator)
        return keys.topk(size, dim=1, largest=False, sorted=False).indices.reshape(-1), size
    raise ValueError(f"unknown batch order {order!r}")
