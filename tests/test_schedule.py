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


def test_swa_lr_ends_the_decay_there_and_holds_it_over_the_averaged_epochs():
    config = TrainConfig(lr=0.5, schedule="one_cycle", warmup_fraction=0.2, epochs=5, swa_epochs=1, swa_lr=0.1)
    total = 50  # 10 batches an epoch; the schedule spans the first 40 batches, 8 of them warm-up
    start = 0.5 / 25
    assert learning_rate(config, 0, total) == pytest.approx(start + (0.5 - start) / 8)
    assert learning_rate(config, 7, total) == pytest.approx(0.5)
    assert learning_rate(config, 24, total) == pytest.approx(0.1 + 0.4 * (1 - 16 / 32))
    assert learning_rate(config, 39, total) == pytest.approx(0.1 + 0.4 / 32)
    assert {learning_rate(config, step, total) for step in range(40, 50)} == {0.1}
    cosine = TrainConfig(lr=0.5, schedule="cosine", epochs=5, swa_epochs=2, swa_lr=0.1)
    assert learning_rate(cosine, 0, total) == pytest.approx(0.5)
    assert learning_rate(cosine, 15, total) == pytest.approx(0.3)  # half-way through its 30 batches
    assert {learning_rate(cosine, step, total) for step in range(30, 50)} == {0.1}


def test_without_swa_lr_averaging_leaves_the_schedule_alone():
    plain = TrainConfig(lr=0.5, schedule="one_cycle", warmup_fraction=0.2, epochs=5)
    averaged = TrainConfig(lr=0.5, schedule="one_cycle", warmup_fraction=0.2, epochs=5, swa_epochs=2)
    assert [learning_rate(plain, s, 50) for s in range(50)] == [learning_rate(averaged, s, 50) for s in range(50)]
