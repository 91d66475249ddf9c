"""Resuming the training ideas for unseen fonts (mixing, font-like augmentation, weight averaging):
a run killed mid-way (after an epoch's records, before its checkpoint) and resumed ends
byte-identical to a run that never stopped."""

import pytest
import torch
from safetensors.torch import load_file

from letterlab.data.dataset import DataSplits
from letterlab.run_config import run_from_dict
from letterlab.runs import new_run_dir
from letterlab.training.session import TrainingInterrupted, train_run

CNN = {"model": {"kind": "cnn", "blocks": [{"filters": 3, "kernel": 3, "pool": 2, "batch_norm": True}], "fc": [8], "fc_dropout": 0.5},
       "train": {"optimizer": "adam", "lr": 0.01, "epochs": 4, "batch_size": 16, "seed": 5}}


def _kill_after(epoch):
    """An epoch-end hook that stops the run after `epoch`'s records are written, before its checkpoint."""
    def make(context):
        def hook(state, result):
            if result.epoch == epoch:
                raise KeyboardInterrupt
        return hook
    return make


@pytest.mark.parametrize("train", [
    {"mix": "mixup", "mix_alpha": 0.4, "augment": {"aspect": 0.2, "crop": 0.1, "blur": 1.0}},
    {"mix": "cutmix", "mix_alpha": 1.0, "swa_epochs": 3, "label_smoothing": 0.1},
    {"swa_epochs": 2, "augment": {"rotate": 5, "crop": 0.15, "style": 0.5}},
], ids=["mixup-font-augment", "cutmix-swa", "swa-crop-style"])
def test_killed_mid_run_and_resumed_equals_an_uninterrupted_run(tmp_path, make_letters, train):
    config = run_from_dict({**CNN, "train": {**CNN["train"], **train}})
    splits, device = DataSplits(make_letters(60, seed=1), make_letters(20, seed=2), make_letters(20, seed=3)), torch.device("cpu")
    whole = new_run_dir(str(tmp_path / "whole"), "")
    train_run(config, whole, splits, device, progress=False)

    run = new_run_dir(str(tmp_path / "run"), "")
    with pytest.raises(TrainingInterrupted):  # killed inside the averaged epochs (3 and 4; or 2 to 4)
        train_run(config, run, splits, device, progress=False, extra_hooks=(_kill_after(3),))
    train_run(config, run, splits, device, resume=True, progress=False)

    assert (run / "metrics.jsonl").read_bytes() == (whole / "metrics.jsonl").read_bytes()
    final, reference = load_file(str(run / "model.safetensors")), load_file(str(whole / "model.safetensors"))
    assert final.keys() == reference.keys() and all(torch.equal(final[k], reference[k]) for k in final)


def test_distilled_run_killed_and_resumed_equals_an_uninterrupted_run(tmp_path, make_letters):
    """The teachers are not in the checkpoint: loaded again from their folders, they give the same targets."""
    from letterlab.evaluation.trained import load_teachers

    splits, device = DataSplits(make_letters(60, seed=1), make_letters(20, seed=2), make_letters(20, seed=3)), torch.device("cpu")
    teacher = new_run_dir(str(tmp_path / "teacher"), "")
    train_run(run_from_dict({**CNN, "train": {**CNN["train"], "epochs": 2}}), teacher, splits, device, progress=False)
    config = run_from_dict({**CNN, "train": {**CNN["train"], "teachers": [str(teacher)], "distill_weight": 0.6,
                                             "augment": {"blur": 0.8}, "mix": "mixup"}})
    load = lambda: load_teachers(config.train.teachers, splits.classes, device)
    whole = new_run_dir(str(tmp_path / "whole"), "")
    train_run(config, whole, splits, device, progress=False, teachers=load())
    run = new_run_dir(str(tmp_path / "run"), "")
    with pytest.raises(TrainingInterrupted):
        train_run(config, run, splits, device, progress=False, extra_hooks=(_kill_after(2),), teachers=load())
    train_run(config, run, splits, device, resume=True, progress=False, teachers=load())
    assert (run / "metrics.jsonl").read_bytes() == (whole / "metrics.jsonl").read_bytes()
    final, reference = load_file(str(run / "model.safetensors")), load_file(str(whole / "model.safetensors"))
    assert all(torch.equal(final[k], reference[k]) for k in reference)
