"""Stochastic weight averaging: the final weights are the mean of the last epochs' weights, batch
norm's statistics are recomputed on the training part, and each epoch's figures stay the live model's."""

import json

import pytest
import torch
from safetensors.torch import load_file

from letterlab.data.dataset import DataSplits
from letterlab.errors import ConfigError
from letterlab.run_config import run_from_dict
from letterlab.runs import new_run_dir
from letterlab.training.session import train_run

MLP = {"model": {"hidden": [16], "activation": "tanh"}, "train": {"epochs": 4, "batch_size": 10, "lr": 0.1, "seed": 2}}


def _splits(make_letters):
    return DataSplits(make_letters(60, seed=1), make_letters(20, seed=2), make_letters(20, seed=3))


def _weights_each_epoch(seen):
    def make(context):
        return lambda state, result: seen.append({k: v.clone() for k, v in state.model.state_dict().items()})
    return make


def _train(config, folder, splits, extra_hooks=()):
    run = new_run_dir(str(folder), "")
    train_run(run_from_dict(config), run, splits, torch.device("cpu"), progress=False, extra_hooks=extra_hooks)
    return run


def test_final_weights_are_the_mean_of_the_last_epochs_and_epoch_figures_the_live_models(tmp_path, make_letters):
    splits, seen = _splits(make_letters), []
    averaged = _train({**MLP, "train": {**MLP["train"], "swa_epochs": 3}}, tmp_path / "swa", splits, (_weights_each_epoch(seen),))
    plain = _train(MLP, tmp_path / "plain", splits)
    final = load_file(str(averaged / "model.safetensors"))
    for name, value in final.items():
        assert torch.allclose(value, torch.stack([epoch[name] for epoch in seen[1:]]).mean(0), atol=1e-6)
        assert not torch.allclose(value, seen[-1][name])  # not simply the last epoch's
    # averaging happens beside training: every epoch's numbers (live model) are the plain run's, bit for bit
    assert (averaged / "metrics.jsonl").read_bytes() == (plain / "metrics.jsonl").read_bytes()
    assert all(torch.equal(seen[-1][k], v) for k, v in load_file(str(plain / "model.safetensors")).items())


def test_batch_norm_statistics_are_recomputed_on_the_training_part(tmp_path, make_letters):
    splits = _splits(make_letters)
    config = {"model": {"kind": "cnn", "blocks": [{"filters": 3, "kernel": 3, "pool": 2, "batch_norm": True}], "fc": [8],
                        "fc_dropout": 0.0},
              "train": {"optimizer": "adam", "lr": 0.01, "epochs": 3, "batch_size": 20, "swa_epochs": 2, "seed": 1}}
    run = _train(config, tmp_path / "run", splits)
    from letterlab.evaluation.trained import load_trained

    model = load_trained(run, torch.device("cpu"))[1]
    norm = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    saved = {k: v.clone() for k, v in norm.state_dict().items()}  # before the passes below move them
    inputs = []
    norm.register_forward_pre_hook(lambda module, args: inputs.append(args[0]))
    from letterlab.models.inputs import images_to_tensor

    with torch.no_grad():
        model.train()
        for batch in images_to_tensor(splits.train.images, torch.device("cpu")).split(20):  # 3 equal batches
            model(batch)
    mean = torch.stack([i.mean((0, 2, 3)) for i in inputs]).mean(0)
    var = torch.stack([i.var((0, 2, 3), unbiased=True) for i in inputs]).mean(0)
    assert torch.allclose(saved["running_mean"], mean, atol=1e-6) and torch.allclose(saved["running_var"], var, atol=1e-6)
    assert saved["num_batches_tracked"].item() == 3  # counted afresh: 3 batches of the 60 training images


@pytest.mark.parametrize("swa_epochs", [-1, 5])
def test_bad_swa_epochs_are_refused(swa_epochs):
    with pytest.raises(ConfigError, match="train.swa_epochs must be between 0 and train.epochs"):
        run_from_dict({"train": {"epochs": 4, "swa_epochs": swa_epochs}})


@pytest.mark.parametrize("settings", [{"swa_lr": 0.01}, {"swa_epochs": 4, "swa_lr": 0.01}, {"swa_epochs": 2, "swa_lr": -0.1},
                                      {"swa_epochs": 2, "swa_lr": float("inf")}])
def test_bad_swa_lr_is_refused(settings):
    with pytest.raises(ConfigError, match=r"train.swa_lr must be finite and >= 0, and needs 0 < train.swa_epochs < train.epochs"):
        run_from_dict({"train": {"epochs": 4, **settings}})


def test_the_averaged_epochs_train_at_swa_lr_and_are_never_graphed(tmp_path, make_letters):
    from letterlab.training.graphed import can_graph

    config = {**MLP, "train": {**MLP["train"], "optimizer": "adam", "lr": 0.01, "schedule": "one_cycle", "swa_epochs": 2, "swa_lr": 0.002}}
    splits, rates = _splits(make_letters), []
    _train(config, tmp_path / "run", splits, (lambda context: lambda state, result: rates.append(state.optimizer.param_groups[0]["lr"]),))
    assert rates[:2] != [0.002, 0.002] and rates[2:] == [0.002, 0.002]  # the rate of each epoch's last batch
    # a CUDA graph replays its captured rate: a constant schedule that steps to swa_lr is not graphed
    on_gpu = type("FakeCudaTensor", (), {"is_cuda": True})()
    assert can_graph(on_gpu, run_from_dict({"train": {"epochs": 4, "swa_epochs": 2}}).train)
    assert not can_graph(on_gpu, run_from_dict({"train": {"epochs": 4, "swa_epochs": 2, "swa_lr": 0.01}}).train)


def test_results_hold_the_averaged_models_validation_figures(tmp_path, letters_npz):
    """results.json (what a sweep compares) scores the model it saves: the average, not the last epoch's."""
    from letterlab.data.run_data import load_run_splits
    from letterlab.evaluation.scoring import score
    from letterlab.evaluation.trained import load_trained
    from letterlab.pipeline import train_and_evaluate

    config = run_from_dict({**MLP, "data": str(letters_npz(0)), "train": {**MLP["train"], "swa_epochs": 3, "swa_lr": 0.05}})
    run = new_run_dir(str(tmp_path / "run"), "")
    results = train_and_evaluate(config, run, "cpu", progress=False)
    final = score(load_trained(run, torch.device("cpu"))[1], load_run_splits(run, config).val, torch.device("cpu"))
    last_epoch = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert (results.val_accuracy, results.val_loss) == (final.accuracy, final.loss)
    assert results.val_loss != last_epoch["val_loss"]  # the live model's, which is not what was saved
    assert json.loads((run / "results.json").read_text())["val_loss"] == final.loss
