"""Faults: bad configs, divergence, tampered checkpoints, read-only and full disks, concurrent runs,
and the CLI's one-line errors (with `--debug` for the traceback)."""

import errno
import hashlib
import json
import os
import pickle
import re
import shutil
import tempfile
import threading
from collections import namedtuple

import pytest
import torch

import letterlab.runs
import letterlab.training.loop
from letterlab.cli.main import main
from letterlab.data.dataset import DataSplits
from letterlab.data.npz import save_npz
from letterlab.data.run_data import load_splits
from letterlab.errors import ConfigError, DataError, LetterlabError, TrainingDiverged
from letterlab.run_config import run_from_dict
from letterlab.runs import RunLock, check_room, new_run_dir, read_config
from letterlab.training import manual_mlp
from letterlab.training.checkpoint import checkpoint_info, load_checkpoint
from letterlab.training.session import new_state, train_run

MLP = {"model": {"kind": "mlp", "hidden": [8], "activation": "sigmoid"}, "train": {"epochs": 2, "batch_size": 16}}


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("letterlab: error: ") and "Traceback" not in err, err
    return err


@pytest.fixture
def letters_npz(tmp_path, make_letters):
    path = tmp_path / "letters.npz"
    save_npz(path, make_letters(100))
    return path


@pytest.fixture
def finished_run(tmp_path, letters_npz):
    """A 2-epoch MLP run on 100 images, trained in-process."""
    config = run_from_dict({**MLP, "data": str(letters_npz)})
    run = new_run_dir(str(tmp_path / "run"), "")
    train_run(config, run, load_splits(config), torch.device("cpu"), progress=False)
    return run


@pytest.mark.parametrize("toml, key", [
    ('[train]\nlrr = 0.1\n', "train: unknown key 'lrr'"),
    ('[train]\nlr = "fast"\n', "train.lr: expected a number"),
    ('[train]\nlr = -0.1\n', "train.lr must be > 0"),
    ('[train]\nlr = inf\n', "train.lr must be > 0 and finite"),
    ('[train]\nepochs = 2.5\n', "train.epochs: expected an integer"),
    ('[model]\nkind = "mlp"\nactivation = "swish"\n', "model.activation: 'swish' is not one of"),
    ('preset = "mlp-huge"\n', "preset: unknown preset 'mlp-huge'"),
    ('train = 5\n', "train: expected a table"),
    ('[train\nlr = 1\n', "not valid TOML"),
])
def test_bad_config_file_is_one_line_naming_file_and_key_exit_2(tmp_path, capsys, toml, key):
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "run")]) == 2
    err = _one_line_error(capsys)
    assert f"{path}: " in err and key in err
    assert not (tmp_path / "run").exists()


def test_debug_before_or_after_the_command_shows_the_traceback(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[train]\nlrr = 0.1\n')
    for argv in (["--debug", "train", "--config", str(path)], ["train", "--config", str(path), "--debug"]):
        with pytest.raises(ConfigError, match="unknown key 'lrr'"):
            main(argv)
    with pytest.raises(DataError, match="no such file"):  # a nested sub-command takes it too
        main(["data", "info", str(tmp_path / "missing.npz"), "--debug"])


def test_os_error_is_one_line_with_the_path(tmp_path, capsys):
    assert main(["train", "--config", str(tmp_path)]) == 2  # a folder where a file is expected
    assert f"{tmp_path}: Is a directory" in _one_line_error(capsys)


def test_huge_learning_rate_stops_with_exit_3_and_keeps_the_checkpoint(tmp_path, letters_npz, capsys):
    run = tmp_path / "run"
    (tmp_path / "c.toml").write_text('[model]\nkind = "mlp"\nhidden = [16]\n[train]\nepochs = 3\nbatch_size = 10\n')
    assert main(["train", "--config", str(tmp_path / "c.toml"), "--data", str(letters_npz), "--lr", "1e37",
                 "--out", str(run), "--no-progress"]) == 3
    found = re.search(r"run: loss became (nan|inf) at epoch (\d+), batch (\d+); the last good checkpoint \(epoch (\d+)\) is kept",
                      _one_line_error(capsys))
    epoch, kept = int(found[2]), int(found[4])
    assert kept == epoch - 1
    state = new_state(read_config(run), torch.device("cpu"))
    load_checkpoint(run, state)
    assert state.epoch == kept and all(torch.isfinite(p).all() for p in state.model.parameters())
    assert not (run / "model.safetensors").exists()
    metrics = run / "metrics.jsonl"
    assert (len(metrics.read_text().splitlines()) if metrics.exists() else 0) == kept


def test_nan_names_epoch_and_batch_and_keeps_the_last_good_epoch(tmp_path, make_letters, monkeypatch):
    calls = []
    real_loss = letterlab.training.loop.loss_from_logits

    def nan_from_the_11th_training_batch(logits, labels, kind, **options):
        calls.extend([1] if logits.requires_grad else [])
        return real_loss(logits, labels, kind, **options) * (float("nan") if len(calls) >= 11 else 1.0)

    monkeypatch.setattr(letterlab.training.loop, "loss_from_logits", nan_from_the_11th_training_batch)
    monkeypatch.setattr(letterlab.training.loop, "can_step_manually", lambda *args: False)  # the autograd step calls the loss
    splits = DataSplits(make_letters(64, seed=1), make_letters(20, seed=2), make_letters(20, seed=3))
    run = new_run_dir(str(tmp_path / "run"), "")
    config = run_from_dict({**MLP, "train": {"epochs": 5, "batch_size": 16}})  # 4 batches an epoch
    with pytest.raises(TrainingDiverged, match=r"run: loss became nan at epoch 3, batch 3; the last good checkpoint \(epoch 2\)") as caught:
        train_run(config, run, splits, torch.device("cpu"), progress=False)
    assert caught.value.exit_code == 3
    assert checkpoint_info(run)["epoch"] == 2 and len((run / "metrics.jsonl").read_text().splitlines()) == 2


def test_the_manual_mlp_step_stops_on_divergence_too(tmp_path, make_letters, monkeypatch):
    calls = []

    def nan_from_the_11th_training_batch(z):
        calls.append(1)
        return z.sigmoid_() * (float("nan") if len(calls) >= 11 else 1.0)

    monkeypatch.setitem(manual_mlp.IN_PLACE, "sigmoid", nan_from_the_11th_training_batch)
    splits = DataSplits(make_letters(64, seed=1), make_letters(20, seed=2), make_letters(20, seed=3))
    run = new_run_dir(str(tmp_path / "run"), "")
    config = run_from_dict({**MLP, "train": {"epochs": 5, "batch_size": 16}})  # plain SGD: the manual path
    with pytest.raises(TrainingDiverged, match=r"run: loss became nan at epoch 3, batch 3; the last good checkpoint \(epoch 2\)"):
        train_run(config, run, splits, torch.device("cpu"), progress=False)
    assert checkpoint_info(run)["epoch"] == 2


def test_changed_checkpoint_bytes_are_refused(finished_run, capsys):
    run = finished_run
    data = bytearray((run / "checkpoint.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (run / "checkpoint.pt").write_bytes(bytes(data))
    assert main(["train", "--resume", str(run), "--no-progress"]) == 2
    assert "checkpoint.pt: checkpoint does not match its recorded SHA-256" in _one_line_error(capsys)


class _RunsCode:
    """A pickle whose loading runs a shell command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_malicious_checkpoint_with_matching_hash_is_refused_without_running(finished_run, tmp_path, capsys):
    run = finished_run
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"model": _RunsCode(marker)}, protocol=2)
    pickle.loads(payload)  # the oracle: plain pickle does run it
    assert marker.exists()
    marker.unlink()
    (run / "checkpoint.pt").write_bytes(payload)
    info = json.loads((run / "checkpoint.json").read_text())
    info["sha256"] = hashlib.sha256(payload).hexdigest()
    (run / "checkpoint.json").write_text(json.dumps(info))
    assert main(["train", "--resume", str(run), "--no-progress"]) == 2
    assert "checkpoint.pt: not a letterlab checkpoint" in _one_line_error(capsys)
    assert not marker.exists()


def test_lock_refuses_a_second_trainer(finished_run, capsys):
    run = finished_run
    with RunLock(run):
        assert main(["train", "--resume", str(run), "--no-progress"]) == 2
    assert "another letterlab process is training into this run folder" in _one_line_error(capsys)


def test_concurrent_runs_never_share_a_folder(tmp_path):
    start, made = threading.Barrier(16), []

    def make():
        start.wait()
        made.append(new_run_dir(None, "same-preset", root=str(tmp_path)))

    threads = [threading.Thread(target=make) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(made)) == 16 and all(path.is_dir() for path in made)


def test_disk_full_during_a_checkpoint_keeps_the_previous_one(tmp_path, letters_npz, capsys, monkeypatch):
    run, real_save, saves = tmp_path / "run", torch.save, []

    def save_until_the_disk_fills(payload, path):
        saves.append(path)
        if len(saves) == 3:  # epoch 0 and 1 fit; epoch 2's checkpoint does not
            with open(path, "wb") as handle:
                handle.write(b"half a checkpo")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_save(payload, path)

    (tmp_path / "c.toml").write_text('[model]\nkind = "mlp"\nhidden = [8]\n[train]\nepochs = 3\nbatch_size = 16\n')
    train = ["train", "--config", str(tmp_path / "c.toml"), "--data", str(letters_npz), "--out", str(run), "--no-progress"]
    monkeypatch.setattr(torch, "save", save_until_the_disk_fills)
    assert main(train) == 2
    assert f"{run / 'checkpoint.pt'}: cannot write (No space left on device); its previous version is kept" in _one_line_error(capsys)
    assert checkpoint_info(run)["epoch"] == 1 and not list(run.glob(".*.tmp"))
    monkeypatch.setattr(torch, "save", real_save)
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    assert [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]


def test_too_little_free_space_fails_before_training(tmp_path, letters_npz, capsys, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(letterlab.runs.shutil, "disk_usage", lambda path: usage(2**30, 2**30 - 2**20, 2**20))
    run = tmp_path / "run"
    assert main(["train", "--preset", "cnn", "--data", str(letters_npz), "--out", str(run), "--no-progress"]) == 2
    assert f"{run}: only 1.0 MiB free on this disk; training needs about" in _one_line_error(capsys)
    assert os.listdir(run) == []


def test_read_only_file_system_fails_before_training(finished_run, capsys, monkeypatch):
    run = finished_run
    before = (run / "checkpoint.pt").read_bytes()

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(letterlab.runs.tempfile, "TemporaryFile", read_only)
    assert main(["train", "--resume", str(run), "--no-progress"]) == 2
    assert f"{run}: cannot write into the run folder (Read-only file system)" in _one_line_error(capsys)
    assert (run / "checkpoint.pt").read_bytes() == before


def test_read_only_folder_as_an_ordinary_user(tmp_path):
    """chmod 0o555 is real for an ordinary user only (root writes anyway), so a forked child drops to
    `nobody` when the tests run as root, and tries the run-folder checks there."""
    base = tempfile.mkdtemp()
    os.chmod(base, 0o755)
    locked = os.path.join(base, "locked")
    os.mkdir(locked, 0o555)
    os.chmod(locked, 0o555)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: report both errors through the pipe, never return into pytest
        messages = []
        try:
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            for attempt in (lambda: check_room(locked), lambda: new_run_dir(os.path.join(locked, "run"), "")):
                try:
                    attempt()
                    messages.append("no error")
                except LetterlabError as error:
                    messages.append(str(error))
            os.write(write, json.dumps(messages).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        messages = json.loads(pipe.read())
    os.waitpid(child, 0)
    os.chmod(locked, 0o755)
    shutil.rmtree(base)
    assert messages == [f"{locked}: cannot write into the run folder (Permission denied)",
                        f"{locked}/run: cannot create run folder (Permission denied)"]
