"""CUDA graphs of the step (letterlab.training.graphed): a graphed run computes what the eager loop
computes. The GPU tests run only where CUDA is available; the warm-up, capture and replay
bookkeeping is checked anywhere, with a fake capture that replays by calling the step again."""

import json
import warnings

import pytest
import torch

from letterlab.data.dataset import DataSplits
from letterlab.run_config import TrainConfig, run_from_dict
from letterlab.runs import new_run_dir
from letterlab.training import graphed, loop
from letterlab.training.batches import epoch_order, order_shape
from letterlab.training.session import train_run

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

MLP = {"model": {"kind": "mlp", "hidden": [32], "activation": "tanh"},
       "train": {"batch_order": "random", "epochs": 4, "batch_size": 16, "lr": 0.05}}
CNN = {"model": {"kind": "cnn", "blocks": [{"filters": 4, "kernel": 3, "pool": 2, "batch_norm": True, "dropout": 0.2}],
                 "fc": [16], "fc_dropout": 0.25},
       "train": {"optimizer": "adam", "lr": 0.01, "epochs": 4, "batch_size": 32}}


@pytest.mark.parametrize("n, batch, order", [(100, 32, "shuffle"), (100, 32, "random"), (10, 64, "random")])
def test_order_shape_is_what_epoch_order_makes(n, batch, order):
    indices, size = epoch_order(n, batch, order, torch.Generator().manual_seed(0))
    assert order_shape(n, batch, order) == (len(indices), size)


def _train(tmp_path, name, values, make_letters, graphs: bool, monkeypatch):
    monkeypatch.setattr(loop, "can_graph", lambda x, config: graphs and x.is_cuda)
    splits = DataSplits(make_letters(300, seed=1), make_letters(60, seed=2), make_letters(60, seed=3))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a failed capture warns: fail instead
        state = train_run(run_from_dict(values), new_run_dir(str(tmp_path / name), ""), splits, torch.device("cuda"), progress=False)
    metrics = [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
    return state, metrics


@cuda
def test_graphed_mlp_matches_the_eager_loop(tmp_path, make_letters, monkeypatch):
    eager, eager_metrics = _train(tmp_path, "eager", MLP, make_letters, False, monkeypatch)
    graphed, graphed_metrics = _train(tmp_path, "graphed", MLP, make_letters, True, monkeypatch)
    for a, b in zip(eager.model.state_dict().values(), graphed.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert len(eager_metrics) == len(graphed_metrics) == 4
    for a, b in zip(eager_metrics, graphed_metrics):
        assert a["batch_accuracy"] == b["batch_accuracy"]
        assert a["batch_loss"] == pytest.approx(b["batch_loss"], rel=1e-4)
        assert a["first_layer_grad"] == pytest.approx(b["first_layer_grad"], rel=1e-4)


@cuda
def test_graphed_cnn_with_dropout_batch_norm_and_adam_learns(tmp_path, make_letters, monkeypatch):
    state, metrics = _train(tmp_path, "cnn", CNN, make_letters, True, monkeypatch)
    assert state.step == 4 * 10 and [m["epoch"] for m in metrics] == [1, 2, 3, 4]
    assert metrics[-1]["train_loss"] < metrics[0]["train_loss"]
    assert int(state.optimizer.state_dict()["state"][0]["step"]) == 40  # every replayed step counted


@pytest.mark.parametrize("values", [MLP, {**MLP, "train": {**MLP["train"], "batch_order": "shuffle"}}, CNN],
                         ids=["mlp-random", "mlp-shuffle-short-last-batch", "cnn-adam"])
def test_warm_up_then_one_captured_step_replayed_matches_the_eager_loop(tmp_path, make_letters, monkeypatch, values):
    values = {**values, "train": {**values["train"], "epochs": 2}}
    if "fc_dropout" in values["model"]:  # dropout draws differ in a real graph, not with the fake: keep the check exact
        values = {**values, "model": {**values["model"], "fc_dropout": 0.0, "blocks": [{**values["model"]["blocks"][0], "dropout": 0.0}]}}
    splits = DataSplits(make_letters(300, seed=1), make_letters(60, seed=2), make_letters(60, seed=3))
    real_steps, results = loop.run_steps, {}
    for name, graphs in (("eager", False), ("graphed", True)):
        calls, captured = [], []  # (batches, images in the first) per run_steps call; calls made before each capture

        def capture(step, stream, calls=calls, captured=captured):  # a replay calls the step again, on the same buffers
            captured.append(len(calls))
            return step

        monkeypatch.setattr(loop, "run_steps", lambda *args, calls=calls, **kw: calls.append((len(args[4]), len(args[4][0]))) or real_steps(*args, **kw))
        monkeypatch.setattr(graphed, "capture_step", capture)
        monkeypatch.setattr(loop, "can_graph", lambda x, config, graphs=graphs: graphs)
        state = train_run(run_from_dict(values), new_run_dir(str(tmp_path / name), ""), splits, torch.device("cpu"), progress=False)
        results[name] = state, (tmp_path / name / "metrics.jsonl").read_text(), calls, captured
    (eager, eager_metrics, eager_calls, _), (graph, graph_metrics, graph_calls, captured) = results["eager"], results["graphed"]
    sizes = [len(loss) for loss in [json.loads(line)["batch_loss"] for line in eager_metrics.splitlines()]]
    batch, order = values["train"]["batch_size"], values["train"].get("batch_order", TrainConfig().batch_order)
    assert eager_calls == [(sizes[0], batch), (sizes[1], batch)]  # the eager loop: one call an epoch for all its batches
    assert captured == [graphed.WARMUP_STEPS]  # one capture, after the warm-up steps
    short = 300 % batch if order == "shuffle" else 0
    # then one call a batch: a replay of the fixed full-size buffer, or the eager step for a short last batch
    assert graph_calls == ([(1, batch)] * (sizes[0] - 1) + [(1, short or batch)]) * 2
    assert graph_metrics == eager_metrics
    for a, b in zip(eager.model.state_dict().values(), graph.model.state_dict().values()):
        assert torch.equal(a, b)
