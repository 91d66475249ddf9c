"""Crash and resume: a run killed (SIGINT, SIGKILL) mid-training and resumed ends byte-identical to
an uninterrupted run with the same seed, and TensorBoard's per-batch steps are 1..N exactly once."""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import letterlab.files
from letterlab.cli.main import main
from letterlab.data.dataset import DataSplits
from letterlab.data.npz import save_npz
from letterlab.errors import LetterlabError
from letterlab.run_config import run_from_dict
from letterlab.runs import new_run_dir
from letterlab.training.checkpoint import checkpoint_info, load_checkpoint, save_checkpoint
from letterlab.training.session import new_state, train_run

CONFIG = '[model]\nkind = "mlp"\nhidden = [32]\nactivation = "tanh"\n[train]\nepochs = 4\nbatch_size = 4\nseed = 3\n'


def _wait_for_checkpoint(run, epoch, process):
    """Poll checkpoint.json until it records `epoch` or later; fail if the process ends first."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        info = run / "checkpoint.json"
        if info.exists() and json.loads(info.read_text())["epoch"] >= epoch:
            return
        assert process.poll() is None, process.stderr.read()
        time.sleep(0.005)
    raise AssertionError("no checkpoint within 60 s")


def test_sigint_then_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path, make_letters, monkeypatch):
    save_npz(tmp_path / "letters.npz", make_letters(400))
    (tmp_path / "config.toml").write_text(CONFIG)
    train = ["train", "--config", str(tmp_path / "config.toml"), "--data", str(tmp_path / "letters.npz"), "--no-progress"]
    # One thread everywhere: CPU kernels then give the same bits in the test process and its children.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(train + ["--out", str(tmp_path / "whole")]) == 0
    finally:
        torch.set_num_threads(threads)

    run = tmp_path / "broken"
    command = [sys.executable, "-m", "letterlab"]
    first = subprocess.Popen(command + train + ["--out", str(run)], stderr=subprocess.PIPE, text=True)
    _wait_for_checkpoint(run, 1, first)
    first.send_signal(signal.SIGINT)  # Ctrl-C
    _, stderr = first.communicate(timeout=60)
    assert first.returncode == 130
    assert stderr.count("\n") == 1 and "is kept; continue with: letterlab train --resume" in stderr

    second = subprocess.Popen(command + ["train", "--resume", str(run), "--no-progress"], stderr=subprocess.PIPE, text=True)
    _wait_for_checkpoint(run, 2, second)
    second.send_signal(signal.SIGKILL)
    second.wait(timeout=60)
    assert json.loads((run / "checkpoint.json").read_text())["epoch"] < 4  # killed before the end

    done = subprocess.run(command + ["train", "--resume", str(run), "--no-progress"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

    assert (run / "metrics.jsonl").read_bytes() == (tmp_path / "whole" / "metrics.jsonl").read_bytes()
    final, reference = load_file(str(run / "model.safetensors")), load_file(str(tmp_path / "whole" / "model.safetensors"))
    assert final.keys() == reference.keys() and all(torch.equal(final[k], reference[k]) for k in final)
    events = EventAccumulator(str(run), size_guidance={"scalars": 0}).Reload()
    steps = [event.step for event in events.Scalars("train/loss")]
    # 400 images: 80 test and 60 validation (stratified, 8 and 6 per letter) leave 260, 65 batches of 4.
    assert steps == list(range(1, 4 * 65 + 1))
    assert [event.step for event in events.Scalars("val/loss")] == [1, 2, 3, 4]


def _splits(make_letters):
    return DataSplits(make_letters(60, seed=1), make_letters(20, seed=2), make_letters(20, seed=3))


# A CNN with dropout and Adam: resuming must restore the optimizer moments and the dropout RNG too.
CNN = {"model": {"kind": "cnn", "blocks": [{"filters": 3, "kernel": 3, "pool": 2}], "fc": [8], "fc_dropout": 0.5},
       "train": {"optimizer": "adam", "lr": 0.01, "epochs": 3, "batch_size": 16, "seed": 5}}


def test_resume_after_a_crash_between_records_and_checkpoint(tmp_path, make_letters):
    """A run killed after it appended epoch 2's records but before epoch 2's checkpoint: resuming cuts
    metrics, timing and events back and ends byte-identical to a run that never stopped."""
    config, splits, device = run_from_dict(CNN), _splits(make_letters), torch.device("cpu")
    train_run(config, new_run_dir(str(tmp_path / "whole"), ""), splits, device, progress=False)

    run = new_run_dir(str(tmp_path / "run"), "")
    train_run(replace(config, train=replace(config.train, epochs=1)), run, splits, device, progress=False)
    with open(run / "metrics.jsonl", "a") as handle:  # what the killed process wrote after the checkpoint
        handle.write('{"epoch": 2, "first_step": 5, "train_lo')
    (run / "events.out.tfevents.9999999999.killed.1.0").write_bytes(b"half an event")
    train_run(config, run, splits, device, resume=True, progress=False)

    assert (run / "metrics.jsonl").read_bytes() == (tmp_path / "whole" / "metrics.jsonl").read_bytes()
    assert [json.loads(line)["epoch"] for line in (run / "timing.jsonl").read_text().splitlines()] == [1, 2, 3]
    assert not (run / "events.out.tfevents.9999999999.killed.1.0").exists()
    final, reference = load_file(str(run / "model.safetensors")), load_file(str(tmp_path / "whole" / "model.safetensors"))
    assert all(torch.equal(final[k], reference[k]) for k in reference)


def test_crash_between_record_and_rename_leaves_a_loadable_pair(tmp_path, make_letters, monkeypatch):
    config, device = run_from_dict({"train": {"epochs": 1}}), torch.device("cpu")
    train_run(config, new_run_dir(str(tmp_path / "run"), ""), _splits(make_letters), device, progress=False)
    state = new_state(config, device)
    load_checkpoint(tmp_path / "run", state)
    state.epoch, state.step = 2, 99

    real_replace = os.replace

    def power_cut(source, target):  # the record is replaced, then the power goes before the checkpoint's rename
        if str(target).endswith("checkpoint.pt"):
            raise SystemExit("power cut")
        real_replace(source, target)

    monkeypatch.setattr(letterlab.files.os, "replace", power_cut)
    with pytest.raises(SystemExit):
        save_checkpoint(tmp_path / "run", state)
    monkeypatch.undo()
    assert json.loads((tmp_path / "run" / "checkpoint.json").read_text())["epoch"] == 2  # the record went first
    assert checkpoint_info(tmp_path / "run")["epoch"] == 1  # but the file on disk is epoch 1's, and it loads
    restored = new_state(config, device)
    load_checkpoint(tmp_path / "run", restored)
    assert (restored.epoch, restored.step) == (1, 1)  # 60 images, the default batch of 64


def test_fresh_run_into_a_used_folder_is_refused(tmp_path, make_letters):
    config = run_from_dict({"train": {"epochs": 1}})
    train_run(config, tmp_path, _splits(make_letters), torch.device("cpu"), progress=False)
    before = (tmp_path / "metrics.jsonl").read_bytes()
    with pytest.raises(LetterlabError, match="already holds a run; continue it with --resume"):
        train_run(config, tmp_path, _splits(make_letters), torch.device("cpu"), progress=False)
    assert (tmp_path / "metrics.jsonl").read_bytes() == before


def test_resume_refuses_config_overrides(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path), "--epochs", "9"]) == 2
    assert "--epochs cannot be combined with it" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []
