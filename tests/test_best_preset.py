"""The `letters-best` preset and its means: the residual net's size by formula, label smoothing
against a hand-computed loss, exact resume with a schedule and augmentation, TTA and ensembles."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from letterlab.cli.main import main
from letterlab.data.dataset import DataSplits
from letterlab.data.npz import save_npz
from letterlab.evaluation.ensemble import TTA_VIEWS, ensemble_probabilities, view
from letterlab.evaluation.trained import load_trained, probabilities
from letterlab.models.build import build_model
from letterlab.models.describe import training_flops_per_image
from letterlab.models.inference import loss_from_logits
from letterlab.models.presets import get_preset
from letterlab.run_config import run_from_dict
from letterlab.runs import new_run_dir
from letterlab.training.session import TrainingInterrupted, train_run


def test_preset_builds_the_residual_net_with_its_parameter_count():
    model = build_model(get_preset("letters-best").model)
    conv_bn = lambda c_in, c_out: c_in * 9 * c_out + 2 * c_out  # 3x3 conv without bias, batch norm scale and shift
    expected = (conv_bn(1, 32) + conv_bn(32, 64) + 2 * conv_bn(64, 64) + conv_bn(64, 128) + 2 * conv_bn(128, 128)
                + 128 * 10 + 10)
    assert sum(p.numel() for p in model.parameters()) == expected == 463_594
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_flops_count_the_convolutions_inside_residual_blocks():
    model = build_model(get_preset("letters-best").model)
    conv = lambda c_in, c_out, side: 2 * c_in * 9 * c_out * side * side  # 3x3 'same' conv, per image
    forward = conv(1, 32, 28) + conv(32, 64, 14) + 2 * conv(64, 64, 14) + conv(64, 128, 7) + 2 * conv(128, 128, 7) + 2 * 128 * 10
    assert training_flops_per_image(model) == 3 * forward == 218_122_752


def test_label_smoothing_matches_the_hand_computed_loss():
    logits, labels = torch.tensor([[2.0, 0.0] + [0.0] * 8]), torch.tensor([0])
    log_p = logits.log_softmax(1)[0]
    # target: 0.9 + 0.01 on the true class, 0.01 on each of the other nine
    expected = -(0.91 * log_p[0] + 0.01 * log_p[1:].sum())
    assert math.isclose(loss_from_logits(logits, labels, smoothing=0.1).item(), expected.item(), rel_tol=1e-6)
    assert math.isclose(loss_from_logits(logits, labels).item(), -log_p[0].item(), rel_tol=1e-6)


# A tiny residual net with every option of the preset on: augmentation, a warm-up schedule, smoothing, AdamW.
TINY = {"model": {"kind": "resnet", "widths": [4, 8], "residual": [0, 1]},
        "train": {"optimizer": "adamw", "lr": 0.01, "weight_decay": 0.05, "epochs": 3, "batch_size": 16, "seed": 2,
                  "schedule": "one_cycle", "warmup_fraction": 0.3, "label_smoothing": 0.1,
                  "augment": {"rotate": 8, "scale": 0.1, "shear": 8, "translate": 2, "stroke": 0.3, "elastic": 1}}}


def _splits(make_letters):
    return DataSplits(make_letters(64, seed=1), make_letters(20, seed=2), make_letters(20, seed=3))


def _stop_in_epoch_2(context):
    def hook(state, result):  # runs after epoch 2's records, before its checkpoint: Ctrl-C at the worst moment
        if result.epoch == 2:
            raise KeyboardInterrupt
    return hook


def test_resume_with_schedule_and_augmentation_is_byte_identical(tmp_path, make_letters):
    """The schedule spans all epochs, so the interrupted run has the full config from the start."""
    config, splits, device = run_from_dict(TINY), _splits(make_letters), torch.device("cpu")
    train_run(config, new_run_dir(str(tmp_path / "whole"), ""), splits, device, progress=False)
    run = new_run_dir(str(tmp_path / "run"), "")
    with pytest.raises(TrainingInterrupted, match="the checkpoint of epoch 1"):
        train_run(config, run, splits, device, progress=False, extra_hooks=[_stop_in_epoch_2])
    train_run(config, run, splits, device, resume=True, progress=False)
    assert (run / "metrics.jsonl").read_bytes() == (tmp_path / "whole" / "metrics.jsonl").read_bytes()
    final, reference = load_file(str(run / "model.safetensors")), load_file(str(tmp_path / "whole" / "model.safetensors"))
    assert all(torch.equal(final[k], reference[k]) for k in reference)


def test_the_learning_rate_follows_the_schedule_in_training(tmp_path, make_letters):
    config = run_from_dict(TINY)
    state = train_run(config, tmp_path, _splits(make_letters), torch.device("cpu"), progress=False)
    # 64 images in batches of 16: 12 steps; the last batch ran at lr * (1 - t), t = (11 - 4) / 8 after 4 warm-up steps
    assert state.step == 12
    assert math.isclose(state.optimizer.param_groups[0]["lr"], 0.01 * (1 - 7 / 8))


def test_tta_views_and_ensembles(tmp_path, make_letters):
    data = make_letters(30, seed=4)
    save_npz(tmp_path / "letters.npz", data)
    config, splits = run_from_dict(dict(TINY, train=dict(TINY["train"], epochs=1))), _splits(make_letters)
    runs = []
    for seed in (0, 1):
        runs.append(new_run_dir(str(tmp_path / f"seed{seed}"), ""))
        train_run(replace(config, train=replace(config.train, seed=seed)), runs[-1], splits, torch.device("cpu"), progress=False)
    x = torch.rand(5, 1, 28, 28)
    assert all(view(x, *v).shape == x.shape for v in TTA_VIEWS) and view(x, *TTA_VIEWS[0]) is x
    singles = [probabilities(load_trained(run)[1], data.images, torch.device("cpu")) for run in runs]
    one = ensemble_probabilities(runs[:1], data.images, torch.device("cpu"))
    both = ensemble_probabilities(runs, data.images, torch.device("cpu"))
    assert np.allclose(one, singles[0], atol=1e-6) and np.allclose(both, (singles[0] + singles[1]) / 2, atol=1e-6)
    tta = ensemble_probabilities(runs, data.images, torch.device("cpu"), tta=True)
    assert np.allclose(tta.sum(1), 1, atol=1e-5) and not np.allclose(tta, both)

    assert main(["evaluate", *map(str, runs), "--tta", "--data", str(tmp_path / "letters.npz"), "--json"]) == 0


def test_evaluate_json_of_an_ensemble(tmp_path, make_letters, capsys):
    data = make_letters(20, seed=5)
    save_npz(tmp_path / "letters.npz", data)
    config = run_from_dict(dict(TINY, train=dict(TINY["train"], epochs=1)))
    train_run(config, new_run_dir(str(tmp_path / "run"), ""), _splits(make_letters), torch.device("cpu"), progress=False)
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "run"), str(tmp_path / "run"), "--data", str(tmp_path / "letters.npz"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 20 and sum(map(sum, result["confusion"])) == 20 and result["tta"] is False
