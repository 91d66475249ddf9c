"""Determinism: the same config and seed give a byte-identical metrics file; wall-clock times live
only in timing.jsonl."""

import json

import pytest
import torch

from letterlab.data.dataset import DataSplits
from letterlab.run_config import run_from_dict
from letterlab.runs import new_run_dir
from letterlab.training.session import train_run

CONFIGS = {
    # The homework's random batches (every batch an independent draw) with plain SGD.
    "mlp": {"model": {"kind": "mlp", "hidden": [16]}, "train": {"batch_order": "random", "epochs": 2, "batch_size": 8}},
    # Dropout, batch norm and Adam: draws from torch's global RNG and optimizer state.
    "cnn": {"model": {"kind": "cnn", "blocks": [{"filters": 3, "kernel": 3, "pool": 2, "batch_norm": True, "dropout": 0.3}],
                      "fc": [8], "input_dropout": 0.2},
            "train": {"optimizer": "adam", "lr": 0.01, "epochs": 2, "batch_size": 16}},
}


def _metrics(tmp_path, name, values, make_letters) -> bytes:
    splits = DataSplits(make_letters(60, seed=1), make_letters(20, seed=2), make_letters(20, seed=3))
    run = new_run_dir(str(tmp_path / name), "")
    train_run(run_from_dict(values), run, splits, torch.device("cpu"), progress=False)
    return (run / "metrics.jsonl").read_bytes()


@pytest.mark.parametrize("kind", CONFIGS)
def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path, make_letters, kind):
    values = CONFIGS[kind]
    first = _metrics(tmp_path, "a", values, make_letters)
    torch.manual_seed(12345)  # whatever happened before must not matter: the run seeds itself
    assert _metrics(tmp_path, "b", values, make_letters) == first
    other_seed = {**values, "train": {**values["train"], "seed": 1}}
    assert _metrics(tmp_path, "c", other_seed, make_letters) != first
    assert [json.loads(line)["epoch"] for line in first.decode().splitlines()] == [1, 2]


def test_times_are_only_in_the_timing_file(tmp_path, make_letters):
    _metrics(tmp_path, "run", CONFIGS["mlp"], make_letters)
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    timing = [json.loads(line) for line in (tmp_path / "run" / "timing.jsonl").read_text().splitlines()]
    assert not any("second" in key for record in metrics for key in record)
    assert [t["epoch"] for t in timing] == [1, 2] and all(t["seconds"] > 0 for t in timing)
