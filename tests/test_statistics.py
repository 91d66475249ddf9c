"""Wilson intervals, McNemar's exact test, ECE and temperature scaling against hand-worked cases and scipy."""

import numpy as np
import pytest
import torch
from scipy import optimize, stats
from torch.nn import functional as F

from letterlab.evaluation.calibration import expected_calibration_error, fit_temperature, reliability_bins
from letterlab.evaluation.statistics import accuracy_with_interval, mcnemar_exact, wilson_interval


def test_wilson_interval_hand_worked_and_scipy():
    # 8/10: centre (0.8 + 1.96^2/20) / (1 + 1.96^2/10) = 0.7167, half-width 0.2266
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    for correct, n in [(0, 7), (7, 7), (993, 1000), (3200, 3655)]:
        reference = stats.binomtest(correct, n).proportion_ci(method="wilson")
        assert wilson_interval(correct, n) == pytest.approx((reference.low, reference.high), abs=1e-9)


def test_accuracy_with_interval_counts():
    result = accuracy_with_interval(np.array([True] * 8 + [False] * 2))
    assert result["accuracy"] == 0.8 and result["correct"] == 8 and result["n"] == 10
    assert result["ci95"][0] < 0.8 < result["ci95"][1]


def pair(only_a: int, only_b: int, both: int = 5, neither: int = 3):
    a = [True] * only_a + [False] * only_b + [True] * both + [False] * neither
    b = [False] * only_a + [True] * only_b + [True] * both + [False] * neither
    return np.array(a), np.array(b)


def test_mcnemar_hand_worked():
    # b=1, c=6: P(X <= 1) for Binomial(7, 1/2) = (1 + 7) / 128, two-sided 0.125
    result = mcnemar_exact(*pair(1, 6))
    assert (result["only_a_correct"], result["only_b_correct"]) == (1, 6)
    assert result["p_value"] == pytest.approx(16 / 128)
    assert mcnemar_exact(*pair(0, 6))["p_value"] == pytest.approx(2 / 64)
    assert mcnemar_exact(*pair(4, 4))["p_value"] == 1.0
    assert mcnemar_exact(*pair(0, 0))["p_value"] == 1.0


@pytest.mark.parametrize("only_a,only_b", [(3, 17), (40, 61), (250, 180), (1200, 1300)])
def test_mcnemar_matches_scipy_binomtest(only_a, only_b):
    expected = stats.binomtest(min(only_a, only_b), only_a + only_b, 0.5).pvalue
    assert mcnemar_exact(*pair(only_a, only_b))["p_value"] == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_mcnemar_rejects_different_lengths():
    with pytest.raises(ValueError):
        mcnemar_exact(np.ones(3, bool), np.ones(4, bool))


def probs_with(confidence: float, predicted: int) -> np.ndarray:
    row = np.full(10, (1 - confidence) / 9)
    row[predicted] = confidence
    return row


def test_ece_hand_worked():
    # bin (14/15, 1]: conf 0.95 right + 0.95 wrong -> |0.5 - 0.95| * 2/4 = 0.225
    # bin (8/15, 9/15]: conf 0.55 right -> 0.45 / 4; bin (5/15, 6/15]: conf 0.35 wrong -> 0.35 / 4
    probs = np.stack([probs_with(0.95, 0), probs_with(0.95, 1), probs_with(0.55, 2), probs_with(0.35, 3)])
    labels = np.array([0, 0, 2, 4])
    assert expected_calibration_error(probs, labels) == pytest.approx(0.225 + 0.1125 + 0.0875)
    bins = reliability_bins(probs, labels)
    assert bins["count"].sum() == 4 and bins["count"][14] == 2 and bins["count"][8] == 1 and bins["count"][5] == 1
    assert bins["accuracy"][14] == 0.5 and bins["confidence"][14] == pytest.approx(0.95)


def test_ece_zero_when_confidence_equals_accuracy():
    probs = np.stack([probs_with(1.0, 3)] * 5)
    assert expected_calibration_error(probs, np.full(5, 3)) == 0.0
    assert expected_calibration_error(probs, np.full(5, 2)) == pytest.approx(1.0)


def test_temperature_recovers_the_generating_temperature_and_matches_a_scalar_search():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(5000, 10, generator=generator) * 3
    labels = torch.multinomial(torch.softmax(logits / 2.0, 1), 1, generator=generator).squeeze(1)
    fitted = fit_temperature(logits, labels)
    assert fitted == pytest.approx(2.0, rel=0.1)
    nll = lambda t: float(F.cross_entropy(logits / t, labels))  # noqa: E731
    best = optimize.minimize_scalar(nll, bounds=(0.05, 20), method="bounded", options={"xatol": 1e-6}).x
    assert fitted == pytest.approx(best, rel=1e-3)
    assert nll(fitted) < nll(1.0)
