"""What a run does not do: import torch._dynamo or matplotlib before it trains, make an optimizer the
written-out MLP step never uses, or draw a confusion heat map every epoch (issue 15)."""

import json
import subprocess
import sys

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from letterlab.data.dataset import DataSplits
from letterlab.data.npz import save_npz
from letterlab.evaluation.epoch_hooks import confusion_per_epoch, draws_image
from letterlab.run_config import run_from_dict
from letterlab.runs import new_run_dir
from letterlab.training import loop
from letterlab.training.checkpoint import load_checkpoint
from letterlab.training.session import new_state, train_run

MLP = {"model": {"kind": "mlp", "hidden": [16], "activation": "tanh"}, "train": {"epochs": 2, "batch_size": 16, "lr": 0.1}}

# Notes which heavy modules are loaded at the first batch and at the end of `letterlab train`.
PROBE = """
import json, sys
import letterlab.training.batches as batches
real, seen = batches.epoch_order, {}
HEAVY = ("torch._dynamo", "matplotlib", "letterlab.evaluation.figures")
def first(*args, **kwargs):
    seen.setdefault("first batch", [name for name in HEAVY if name in sys.modules])
    return real(*args, **kwargs)
batches.epoch_order = first
from letterlab.cli.main import main
code = main(sys.argv[1:])
seen["end"] = [name for name in HEAVY if name in sys.modules]
print(json.dumps(seen))
sys.exit(code)
"""


def test_a_plain_sgd_mlp_run_imports_no_dynamo_and_no_figures_before_training(tmp_path, make_letters):
    save_npz(tmp_path / "letters.npz", make_letters(200))
    (tmp_path / "c.toml").write_text('[model]\nkind = "mlp"\nhidden = [16]\n[train]\nepochs = 1\nbatch_size = 16\n')
    done = subprocess.run([sys.executable, "-c", PROBE, "train", "--config", str(tmp_path / "c.toml"), "--data",
                           str(tmp_path / "letters.npz"), "--out", str(tmp_path / "run"), "--no-progress"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["first batch"] == []
    assert "torch._dynamo" not in loaded["end"] and "matplotlib" in loaded["end"]  # the last epoch's heat map


def test_the_written_out_step_makes_no_optimizer_and_a_resumed_autograd_run_makes_one(tmp_path, make_letters, monkeypatch):
    splits = DataSplits(make_letters(120, seed=1), make_letters(20, seed=2), make_letters(20, seed=3))
    config, cpu = run_from_dict(MLP), torch.device("cpu")
    whole = train_run(config, new_run_dir(str(tmp_path / "whole"), ""), splits, cpu, progress=False)
    assert not whole.has_optimizer

    run = new_run_dir(str(tmp_path / "run"), "")
    one = run_from_dict({**MLP, "train": {**MLP["train"], "epochs": 1}})
    train_run(one, run, splits, cpu, progress=False)
    assert torch.load(run / "checkpoint.pt", weights_only=True)["optimizer"] == {}
    monkeypatch.setattr(loop, "can_step_manually", lambda *args: False)  # the second epoch through autograd and torch's SGD
    resumed = train_run(config, run, splits, cpu, resume=True, progress=False)
    assert resumed.has_optimizer and resumed.epoch == 2
    for a, b in zip(whole.model.parameters(), resumed.model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_a_checkpoint_with_optimizer_state_restores_it(tmp_path, make_letters):
    values = {**MLP, "train": {**MLP["train"], "optimizer": "adam", "lr": 0.01, "epochs": 1}}
    config, cpu = run_from_dict(values), torch.device("cpu")
    splits = DataSplits(make_letters(60, seed=1), make_letters(20, seed=2), make_letters(20, seed=3))
    trained = train_run(config, new_run_dir(str(tmp_path / "run"), ""), splits, cpu, progress=False)
    restored = new_state(config, cpu)
    load_checkpoint(tmp_path / "run", restored)
    saved, loaded = trained.optimizer.state_dict()["state"], restored.optimizer.state_dict()["state"]
    assert saved.keys() == loaded.keys() and all(torch.equal(saved[k]["exp_avg"], loaded[k]["exp_avg"]) for k in saved)


@pytest.mark.parametrize("epochs, drawn", [(1, [1]), (4, [1, 2, 3, 4]), (21, [3, 6, 9, 12, 15, 18, 21]),
                                           (60, list(range(6, 61, 6)))])
def test_about_ten_heat_maps_a_run_the_last_epoch_always(epochs, drawn):
    assert [epoch for epoch in range(1, epochs + 1) if draws_image(epoch, epochs)] == drawn


def test_tensorboard_gets_the_confusion_numbers_every_epoch_and_images_on_some(tmp_path, make_letters):
    splits = DataSplits(make_letters(100, seed=1), make_letters(40, seed=2), make_letters(20, seed=3))
    config = run_from_dict({**MLP, "train": {**MLP["train"], "epochs": 12}})
    run = new_run_dir(str(tmp_path / "run"), "")
    train_run(config, run, splits, torch.device("cpu"), progress=False, extra_hooks=(confusion_per_epoch,))
    events = EventAccumulator(str(run), size_guidance={"images": 0, "tensors": 0}).Reload()
    assert [event.step for event in events.Tensors("val/confusion_table/text_summary")] == list(range(1, 13))
    assert [event.step for event in events.Images("val/confusion")] == [2, 4, 6, 8, 10, 12]
