"""`fast_paths = false` forces plain autograd for every step, and gives the numbers the fast paths
give (the written-out MLP step, stacked seeds) up to float rounding."""

import json

import numpy as np
import pytest

import letterlab
from letterlab.training import manual_mlp
from letterlab.training.stacked import can_stack


@pytest.fixture(scope="module")
def letters(letters_npz):
    return letters_npz(4)


def _metrics(run) -> list[dict]:
    return [json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()]


def _close(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x["epoch"] == y["epoch"] and x["last_step"] == y["last_step"]
        assert np.allclose(x["batch_loss"], y["batch_loss"], rtol=1e-4, atol=1e-5)
        assert x["val_accuracy"] == pytest.approx(y["val_accuracy"], abs=0.01)


def test_plain_autograd_matches_the_written_out_step(letters, tmp_path, monkeypatch):
    calls = []
    original = manual_mlp.manual_steps
    monkeypatch.setattr(manual_mlp, "manual_steps", lambda *a, **k: calls.append(1) or original(*a, **k))
    monkeypatch.setattr("letterlab.training.loop.manual_steps", manual_mlp.manual_steps)
    fast = letterlab.train("mlp-tanh-100x2", letters, out=tmp_path / "fast", epochs=3, device="cpu", progress=False)
    taken = len(calls)
    plain = letterlab.train("mlp-tanh-100x2", letters, out=tmp_path / "plain", epochs=3, device="cpu", progress=False,
                            fast_paths=False)
    assert taken == 3 and len(calls) == 3  # the fast run took the written-out step every epoch; the plain run never
    _close(_metrics(fast), _metrics(plain))
    assert fast.evaluate().accuracy == pytest.approx(plain.evaluate().accuracy, abs=0.01)


def test_plain_autograd_trains_seeds_one_by_one_with_the_same_numbers(letters, tmp_path):
    base = letterlab.config("mlp-tanh-50", letters, epochs=2)
    plain = letterlab.config("mlp-tanh-50", letters, epochs=2, fast_paths=False)
    seeded = lambda c, s: letterlab.config(c, seed=s)
    assert can_stack([seeded(base, 0), seeded(base, 1)])
    assert not can_stack([seeded(plain, 0), seeded(plain, 1)])
    stacked = letterlab.train_seeds(base, 2, out=tmp_path / "stacked", device="cpu", progress=False)
    separate = letterlab.train_seeds(plain, 2, out=tmp_path / "separate", device="cpu", progress=False)
    for a, b in zip(stacked, separate):
        _close(_metrics(a), _metrics(b))
