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
        length, size = order_shape(n, batch_size, order)
        return distinct_draws(length // size, size, n, generator).reshape(-1), size
    raise ValueError(f"unknown batch order {order!r}")


def order_shape(n: int, batch_size: int, order: str) -> tuple[int, int]:
    """(length of `epoch_order`'s indices, its batch size): the same every epoch."""
    if order == "random":
        size = min(batch_size, n)
        return batches_per_epoch(n, batch_size, order) * size, size
    return n, batch_size


def batches_per_epoch(n: int, batch_size: int, order: str) -> int:
    """Batches in an epoch of `n` images: `n // batch_size + 1` draws for "random" (the homework's
    count), enough to cover a permutation for "shuffle"."""
    return n // batch_size + 1 if order == "random" else -(-n // batch_size)


def distinct_draws(count: int, size: int, n: int, generator: torch.Generator) -> torch.Tensor:
    """(count, size) indices, each row a uniform sample of `size` distinct values from range(n).

    Rows are drawn with replacement and redrawn while they hold a repeat (rejection sampling keeps
    the distribution exact); when repeats would be common, random keys and top-k are used instead."""
    if size * size > n:  # expected repeats per row above ~1/2: sort random keys instead
        keys = torch.rand(count, n, generator=generator)
        return keys.topk(size, dim=1, largest=False, sorted=False).indices
    draws = torch.randint(n, (count, size), generator=generator)
    while True:
        ordered = draws.sort(dim=1).values
        repeats = (ordered[:, 1:] == ordered[:, :-1]).any(dim=1)
        if not repeats.any():
            return draws
        draws[repeats] = torch.randint(n, (int(repeats.sum()), size), generator=generator)
