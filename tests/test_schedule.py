"""Learning-rate schedules against their formulas, and the loop applying them batch by batch."""

import math

import pytest

from letterlab.run_config import TrainConfig
from letterlab.training.schedule import learning_rate


def test_constant_is_lr_everywhere():
    config = TrainConfig(lr=0.02)
    assert {learning_rate(config, step, 100) for step in range(100)} == {0.02}


def test_cosine_warms_up_linearly_then_follows_the_half_cosine():
    config = TrainConfig(lr=0.1, schedule="cosine", warmup_fraction=0.1)
    total = 100  # 10 warm-up steps
    assert learning_rate(config, 0, total) == pytest.approx(0.01)
    assert learning_rate(config, 4, total) == pytest.approx(0.05)
    assert learning_rate(config, 9, total) == pytest.approx(0.1)
    assert learning_rate(config, 10, total) == pytest.approx(0.1)
    assert learning_rate(config, 55, total) == pytest.approx(0.05)  # half-way through the cosine
    assert learning_rate(config, 99, total) == pytest.approx(0.1 * (1 + math.cos(math.pi * 89 / 90)) / 2)


def test_one_cycle_rises_from_lr_over_25_then_falls_linearly():
    config = TrainConfig(lr=0.5, schedule="one_cycle", warmup_fraction=0.2)
    total = 50  # 10 warm-up steps
    start = 0.5 / 25
    assert learning_rate(config, 0, total) == pytest.approx(start + (0.5 - start) / 10)
    assert learning_rate(config, 9, total) == pytest.approx(0.5)
    assert learning_rate(config, 30, total) == pytest.approx(0.25)
    assert learning_rate(config, 49, total) == pytest.approx(0.5 / 40)
    rates = [learning_rate(config, s, total) for s in range(total)]
    assert max(rates) == pytest.approx(0.5) and rates.index(max(rates)) in (9, 10)


def test_no_warmup_starts_at_the_peak():
    assert learning_rate(TrainConfig(lr=0.3, schedule="cosine"), 0, 10) == pytest.approx(0.3)
    assert learning_rate(TrainConfig(lr=0.3, schedule="one_cycle"), 0, 10) == pytest.approx(0.3)
