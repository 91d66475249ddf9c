"""Batch orders: a permutation per epoch, or the homework's independent draws of distinct indices."""

import numpy as np
import pytest
import torch

from letterlab.training.batches import distinct_draws, epoch_order


def test_shuffle_is_a_permutation_per_epoch():
    generator = torch.Generator().manual_seed(0)
    order, size = epoch_order(100, 32, "shuffle", generator)
    assert size == 32 and sorted(order.tolist()) == list(range(100))
    assert not torch.equal(order, epoch_order(100, 32, "shuffle", generator)[0])


@pytest.mark.parametrize("n, batch", [(1000, 16), (40, 16), (10, 64)])
def test_random_batches_are_independent_draws_of_distinct_indices(n, batch):
    order, size = epoch_order(n, batch, "random", torch.Generator().manual_seed(1))
    rows = order.reshape(-1, size)
    assert len(rows) == n // batch + 1 and size == min(batch, n)
    assert all(len(set(row.tolist())) == size for row in rows)
    assert order.min() >= 0 and order.max() < n


@pytest.mark.parametrize("n, size", [(50, 5), (12, 6)])  # rejection path and top-k path
def test_distinct_draws_are_uniform(n, size):
    draws = distinct_draws(20_000, size, n, torch.Generator().manual_seed(2))
    counts = np.bincount(draws.reshape(-1).numpy(), minlength=n)
    expected = 20_000 * size / n
    assert np.abs(counts - expected).max() < 5 * np.sqrt(expected)  # each index equally likely
    members = np.zeros((20_000, n))
    np.put_along_axis(members, draws.numpy(), 1.0, axis=1)
    together = (members.T @ members)[~np.eye(n, dtype=bool)]  # how often each pair shares a batch
    expected_pairs = 20_000 * size * (size - 1) / (n * (n - 1))
    assert np.abs(together - expected_pairs).max() < 5 * np.sqrt(expected_pairs)  # no pair favoured


def test_same_seed_same_order():
    a = epoch_order(500, 64, "random", torch.Generator().manual_seed(3))[0]
    b = epoch_order(500, 64, "random", torch.Generator().manual_seed(3))[0]
    assert torch.equal(a, b)
