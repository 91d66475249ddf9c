"""The MLPs' written-out SGD step (letterlab.training.manual_mlp) computes what autograd computes."""

import json

import pytest
import torch

from letterlab.data.dataset import DataSplits
from letterlab.models.build import build_model
from letterlab.run_config import run_from_dict
from letterlab.runs import new_run_dir
from letterlab.training import loop
from letterlab.training.manual_mlp import can_step_manually, mlp_layers
from letterlab.training.session import train_run


def _run(tmp_path, name, values, make_letters, manual: bool, monkeypatch):
    calls = []
    real_steps = loop.manual_steps
    monkeypatch.setattr(loop, "manual_steps", lambda *args, **kwargs: calls.append(1) or real_steps(*args, **kwargs))
    if not manual:
        monkeypatch.setattr(loop, "can_step_manually", lambda *args: False)
    splits = DataSplits(make_letters(200, seed=1), make_letters(40, seed=2), make_letters(40, seed=3))
    state = train_run(run_from_dict(values), new_run_dir(str(tmp_path / name), ""), splits, torch.device("cpu"), progress=False)
    monkeypatch.undo()
    assert len(calls) == (3 if manual else 0)  # one call an epoch on the manual path, none on autograd's
    metrics = [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
    return state.model.state_dict(), metrics


@pytest.mark.parametrize("model, train", [
    ({"hidden": [16], "activation": "sigmoid"}, {"batch_order": "random"}),
    ({"hidden": [12, 8], "activation": "tanh"}, {"batch_order": "shuffle"}),
    ({"hidden": [10], "activation": "relu", "init": "kaiming"}, {"schedule": "one_cycle", "warmup_fraction": 0.3}),
])
def test_manual_step_matches_autograd(tmp_path, make_letters, monkeypatch, model, train):
    values = {"model": {"kind": "mlp", **model}, "train": {"epochs": 3, "batch_size": 16, "lr": 0.1, **train}}
    manual, manual_metrics = _run(tmp_path, "manual", values, make_letters, True, monkeypatch)
    autograd, autograd_metrics = _run(tmp_path, "autograd", values, make_letters, False, monkeypatch)
    for key in manual:
        torch.testing.assert_close(manual[key], autograd[key], rtol=1e-4, atol=1e-5)
    assert len(manual_metrics) == len(autograd_metrics) == 3
    for a, b in zip(manual_metrics, autograd_metrics):
        assert a["batch_loss"] == pytest.approx(b["batch_loss"], rel=1e-4)
        assert a["first_layer_grad"] == pytest.approx(b["first_layer_grad"], rel=1e-4)
        assert a["train_accuracy"] == pytest.approx(b["train_accuracy"], abs=0.02)
        assert a["val_accuracy"] == pytest.approx(b["val_accuracy"], abs=0.03)


def test_only_plain_sgd_mlps_on_a_cpu_take_the_manual_path():
    def config(**train):
        return run_from_dict({"model": {"kind": "mlp", "hidden": [8]}, "train": train})

    mlp, x = build_model(config().model), torch.zeros(4, 1, 28, 28)
    assert mlp_layers(mlp) is not None and can_step_manually(mlp, x, config().train)
    for other in ({"optimizer": "adam"}, {"momentum": 0.9}, {"weight_decay": 0.01}, {"loss": "double_softmax"},
                  {"label_smoothing": 0.1}, {"precision": "bf16"}, {"augment": {"rotate": 5.0}}):
        assert not can_step_manually(mlp, x, config(**other).train), other
    cnn = build_model(run_from_dict({"model": {"kind": "cnn", "blocks": [{"filters": 2}], "fc": []}}).model)
    assert mlp_layers(cnn) is None
