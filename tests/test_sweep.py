"""`letterlab sweep`: the spec, its bad inputs, and sweeps on a real Ray cluster of two nodes on
this machine (`ray.cluster_utils.Cluster`, started once for these tests, on the loopback address):
every trial the same bytes as trained alone, a killed driver and a killed worker, trials on both
nodes, TensorBoard's HParams rows and the report's section."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import letterlab
from letterlab.cli.main import main
from letterlab.errors import ConfigError
from letterlab.runs import LOCK
from letterlab.sweeps.spec import load_spec

# Ray reads this once, on import: 0 makes every Ray node of these tests live on 127.0.0.1 (the
# loopback address) instead of this machine's network address.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
pytest.importorskip("ray")

SPEC = """base = "mlp-tanh-50"
seeds = [0, 1]
data = "{data}"
[overrides]
train.epochs = {epochs}
[variants.lr-high]
train.lr = 0.05
"""


def write_spec(folder: Path, data: Path, epochs: int = 2, text: str = SPEC, name: str = "spec.toml") -> Path:
    path = folder / name
    path.write_text(text.format(data=data, epochs=epochs))
    return path


# --- the spec, without Ray ------------------------------------------------------------------

def test_the_documented_form_gives_the_base_named_variants_and_the_grid(tmp_path, letters_npz):
    spec = load_spec(write_spec(tmp_path, letters_npz(0), text=SPEC + '[grid]\n"train.batch_size" = [32, 128]\n'))
    assert [v.name for v in spec.variants] == ["base", "lr-high", "batch_size=32", "batch_size=128"]
    assert spec.seeds == (0, 1)
    base, high, b32, _ = (v.config for v in spec.variants)
    assert (base.train.epochs, base.train.lr, base.train.batch_size) == (2, 0.01, 64)
    assert (high.train.epochs, high.train.lr, b32.train.batch_size, b32.train.lr) == (2, 0.05, 32, 0.01)
    assert base.data == str(letters_npz(0))


def test_a_data_path_a_variant_sets_is_made_absolute_as_the_base_s(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec.toml").write_text('base = "mlp-tanh-50"\nseeds = 1\ndata = "a"\n[variants.other]\ndata = "b"\n'
                                        'train.extra_train = "more.npz"\n')
    base, other = (v.config for v in load_spec("spec.toml").variants)
    assert (base.data, other.data, other.train.extra_train) == (str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "more.npz"))


def test_a_star_sets_every_item_of_a_list(tmp_path):
    path = tmp_path / "kernels.toml"
    path.write_text('base = "cnn"\nseeds = 1\n[grid]\n"model.blocks.*.kernel" = [2, 9]\n"model.blocks.1.filters" = [16]\n')
    spec = load_spec(path)
    assert [v.name for v in spec.variants] == ["base", "kernel=2,filters=16", "kernel=9,filters=16"]
    base, blocks = spec.variants[0].config.model.blocks, spec.variants[1].config.model.blocks
    assert len(blocks) == len(base) > 2 and all(b.kernel == 2 for b in blocks)
    assert [b.filters for b in blocks] == [base[0].filters, 16] + [b.filters for b in base[2:]]


def test_a_grid_point_equal_to_the_base_runs_once_and_set_and_only_narrow_the_sweep(tmp_path, letters_npz):
    spec = write_spec(tmp_path, letters_npz(0), text=SPEC + '[grid]\n"train.lr" = [0.01, 0.02]\n')
    assert [v.name for v in load_spec(spec).variants] == ["base", "lr-high", "lr=0.02"]  # lr 0.01 is the base
    narrowed = load_spec(spec, seeds=1, settings={"train.epochs": 1}, only=["lr=0.02"])
    assert [v.name for v in narrowed.variants] == ["base", "lr=0.02"] and narrowed.seeds == (0,)
    assert all(v.config.train.epochs == 1 for v in narrowed.variants)
    with pytest.raises(ConfigError, match="no variant 'lr=0.5'"):
        load_spec(spec, only=["lr=0.5"])


@pytest.mark.parametrize("text, message", [
    ('base = "mlp-tanh-50"\nseeds = [0]\n[variants.x]\ntrain.lrr = 0.1\n', "variants.x: unknown key 'train.lrr'"),
    ('base = "mlp-tanh-50"\nseeds = [0]\n[variants.same]\ntrain.lr = 0.01\n', "variants.same changes nothing"),
    ('base = "mlp-tanh-50"\n[variants.x]\ntrain.lr = 0.1\n', "no seeds"),
    ('base = "mlp-tanh-50"\nseeds = []\n', "seeds needs a list"),
    ('base = "mlp-tanh-50"\nseeds = [0]\nvariant = 1\n', "unknown key 'variant'"),
    ('base = "mlp-tanh-5"\nseeds = [0]\n', "base: 'mlp-tanh-5': not a preset"),
    ('base = "mlp-tanh-50"\nseeds = [0]\n[grid]\n"train.lr" = 0.1\n', "grid: train.lr needs a list"),
    ('base = "mlp-tanh-50"\nseeds = [0]\n[variants.x]\ntrain.lr = -1.0\n', "train.lr must be > 0"),
    ('base = "mlp-tanh-50"\nseeds = [0]\n[search]\n"train.lr" = {low = 1, high = 0.1}\n', "low < high"),
    ('base = "mlp-tanh-50"\nseeds = [0]\n[variants."../x"]\ntrain.lr = 0.1\n', "becomes a folder"),
    ('base = "mlp-tanh-50"\nseeds = [0]\n[search]\n"train.batch_size" = {low = 32, high = 512}\n', "add integer = true"),
    ('base = "mlp-tanh-50"\nseeds = [0]\n[search]\n"train.optimizer" = ["adam", "bogus"]\n', "'bogus' is not one of"),
    ('base = "mlp-tanh-50"\nseeds = [0]\nfolds = 1\n', "folds needs a whole number of folds, 2 or more"),
    ('base = "mlp-tanh-50"\nseeds = [0]\nfolds = 3\nfold_by = "writer"\n', "fold_by needs"),
])
def test_bad_specs_are_refused_naming_the_file_and_key(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as error:
        load_spec(path)
    assert str(error.value).startswith(str(path))


def test_bad_input_exits_2_with_one_line(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('base = "mlp-tanh-50"\nseeds = [0]\n[variants.same]\ntrain.lr = 0.01\n')
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "changes nothing" in err and str(path) in err
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    path.write_text('base = "mlp-tanh-50"\nseeds = [0]\n')
    started = time.monotonic()
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "--address", f"127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"127.0.0.1:{port}: no Ray cluster answers there" in err
    assert time.monotonic() - started < 10


def test_folds_are_refused_with_a_search_and_on_data_without_fonts_before_ray_starts(tmp_path, capsys, make_letters):
    spec = tmp_path / "cv.toml"
    spec.write_text('base = "mlp-tanh-50"\nseeds = [0]\n[search]\n"train.lr" = [0.1, 0.2]\n')
    assert main(["sweep", str(spec), "--out", str(tmp_path / "a"), "--folds", "3", "--search", "random"]) == 2
    assert "folds are for variants and grids" in capsys.readouterr().err
    letters = make_letters(200)
    np.savez(tmp_path / "plain.npz", images=letters.images, labels=letters.labels)  # no font array
    spec.write_text(f'base = "mlp-tanh-50"\nseeds = [0]\nfolds = 3\ndata = "{tmp_path / "plain.npz"}"\n')
    assert main(["sweep", str(spec), "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'plain.npz: val_split = "font" needs each image\'s font' in err
    assert not (tmp_path / "b" / "ray").exists()


# --- on a Ray cluster ---------------------------------------------------------------------

@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    """Two Ray nodes of one CPU each on 127.0.0.1; yields the address and the environment for a
    driver (which keeps it on the loopback address too)."""
    from ray.cluster_utils import Cluster

    Path("/tmp/ray").mkdir(exist_ok=True)  # Cluster notes the address there whatever temp_dir says
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                             "temp_dir": str(tmp_path_factory.mktemp("ray"))})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    assert cluster.address.startswith("127.0.0.1:")
    try:
        yield cluster.address, dict(os.environ)
    finally:
        cluster.shutdown()


def sweep_command(spec: Path, out: Path, address: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "letterlab", "sweep", str(spec), "--out", str(out), "--address", address, "--no-progress", *extra]


def trained_alone(config, out: Path) -> Path:
    """The run `letterlab train` makes of `config`, with one thread as each trial has (threads
    change the order of a float sum, and so the last bits)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return letterlab.train(config, out=out, progress=False).path
    finally:
        torch.set_num_threads(threads)


def test_every_trial_is_the_run_train_makes_and_trials_use_both_nodes(tmp_path, letters_npz, ray_cluster):
    address, env = ray_cluster
    spec = write_spec(tmp_path, letters_npz(0))
    done = subprocess.run(sweep_command(spec, tmp_path / "sweep", address), capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # nothing of Ray's in the terminal
    lines = done.stdout.splitlines()
    assert sum(line.startswith("[") and "trained, validation" in line for line in lines) == 4
    result = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    trials = {(t["variant"], t["seed"]): t for t in result["trials"]}
    assert set(trials) == {("base", 0), ("base", 1), ("lr-high", 0), ("lr-high", 1)}
    assert len({t["node"] for t in trials.values()}) == 2  # the two nodes both trained

    loaded = load_spec(spec)
    correct = {}
    for variant in loaded.variants:
        for seed in loaded.seeds:
            trial = Path(trials[variant.name, seed]["run"])
            assert trial == tmp_path / "sweep" / variant.name / f"seed{seed}"
            alone = trained_alone(letterlab.config(variant.config, seed=seed), tmp_path / "alone" / variant.name / str(seed))
            assert (trial / "metrics.jsonl").read_bytes() == (alone / "metrics.jsonl").read_bytes()
            assert json.loads((trial / "config.json").read_text()) == json.loads((alone / "config.json").read_text())
            correct[variant.name, seed] = letterlab.load_run(trial).evaluate().correct

    rows = {row["name"]: row for row in result["variants"]}
    assert rows["base"]["seeds"] == 2 and rows["base"]["mcnemar"] is None
    accuracies = [trials["lr-high", s]["test_accuracy"] for s in (0, 1)]
    assert rows["lr-high"]["test_mean"] == pytest.approx(np.mean(accuracies))
    assert rows["lr-high"]["test_sd"] == pytest.approx(np.std(accuracies, ddof=1))
    only_variant = sum(int(np.sum(correct["lr-high", s] & ~correct["base", s])) for s in (0, 1))
    only_base = sum(int(np.sum(~correct["lr-high", s] & correct["base", s])) for s in (0, 1))
    assert (rows["lr-high"]["mcnemar"]["only_variant_correct"], rows["lr-high"]["mcnemar"]["only_base_correct"]) == (only_variant, only_base)
    assert "lr-high" in done.stdout and f"+{only_variant} / -{only_base}" in done.stdout

    # TensorBoard's HParams tab: one session per trial, in the trial's own run folder, with real metrics.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    for (variant, seed), trial in trials.items():
        events = EventAccumulator(trial["run"], size_guidance={"tensors": 0})
        events.Reload()
        content = events.PluginTagToContent("hparams")
        start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
        assert start.hparams["variant"].string_value == variant and start.hparams["seed"].number_value == seed
        assert start.hparams["train.lr"].number_value == (0.05 if variant == "lr-high" else 0.01)
        assert events.Scalars("hparam/test_accuracy")[-1].value == pytest.approx(trial["test_accuracy"])

    # The report's "how far can we go" section renders the sweep's table.
    report = letterlab.report(tmp_path / "sweep" / "base", sweep=tmp_path / "sweep")
    html = Path(report.html).read_text()
    assert "lr-high" in html and f"+{only_variant} / -{only_base}" in html


def _wait_for(condition, timeout: float = 120, what: str = ""):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


SLOW_SPEC = """base = "mlp-tanh-50"
seeds = [0, 1]
data = "{data}"
[overrides]
train.epochs = {epochs}
train.batch_size = 8
"""


def _start_slow_sweep(tmp_path, letters_npz, ray_cluster, *options, text=SLOW_SPEC):
    """A driver process running `text` (12-epoch trials) on the test's Ray cluster; returns it, the spec and the sweep folder."""
    address, env = ray_cluster
    spec = write_spec(tmp_path, letters_npz(1, 60), epochs=12, text=text)
    out = tmp_path / "sweep"
    driver = subprocess.Popen(sweep_command(spec, out, address, *options), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return driver, spec, out


def test_a_killed_driver_then_the_same_command_trains_no_trial_twice(tmp_path, letters_npz, ray_cluster):
    address, env = ray_cluster
    driver, spec, out = _start_slow_sweep(tmp_path, letters_npz, ray_cluster, "--max-concurrent", "1")
    first, second = out / "base" / "seed0", out / "base" / "seed1"
    try:
        _wait_for(lambda: (first / "results.json").exists() and _lines(second / "metrics.jsonl") >= 2, what="a trial mid-way")
    finally:
        driver.kill()
        driver.communicate()
    _wait_for(lambda: _trainer_of(second) is None, what="Ray to end the dead driver's trial")
    finished_at = (first / "results.json").stat().st_mtime_ns
    epochs_at_kill = _lines(second / "metrics.jsonl")
    timing_at_kill = (second / "timing.jsonl").read_text().splitlines()
    assert not (second / "results.json").exists() and 2 <= epochs_at_kill < 12

    done = subprocess.run(sweep_command(spec, out, address), capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    trials = {t["seed"]: t for t in json.loads((out / "sweep.json").read_text())["trials"]}
    assert trials[0]["status"] == "reused" and (first / "results.json").stat().st_mtime_ns == finished_at
    assert trials[1]["status"] == "resumed"
    timing = (second / "timing.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in timing] == list(range(1, 13))
    checkpointed = json.loads((second / "checkpoint.json").read_text())  # the epochs before the kill were not trained again:
    assert timing[:len(timing_at_kill) - 1] == timing_at_kill[:-1] and len(timing_at_kill) >= 2, checkpointed
    config = load_spec(spec).base
    for seed, run in ((0, first), (1, second)):
        alone = trained_alone(letterlab.config(config, seed=seed), tmp_path / "alone" / str(seed))
        assert (run / "metrics.jsonl").read_bytes() == (alone / "metrics.jsonl").read_bytes()


def test_ctrl_c_stops_the_sweep_with_every_trial_accounted_for(tmp_path, letters_npz, ray_cluster):
    driver, _, out = _start_slow_sweep(tmp_path, letters_npz, ray_cluster, "--max-concurrent", "1")
    _wait_for(lambda: _lines(out / "base" / "seed0" / "metrics.jsonl") >= 1, what="the first trial's first epoch")
    driver.send_signal(signal.SIGINT)
    stdout, stderr = driver.communicate(timeout=120)
    assert driver.returncode == 1 and "internal error" not in stderr, stderr
    trials = {t["seed"]: t["status"] for t in json.loads((out / "sweep.json").read_text())["trials"]}
    assert trials == {0: "interrupted", 1: "interrupted"}  # the one never started is listed too
    _wait_for(lambda: _trainer_of(out / "base" / "seed0") is None, what="Ray to end the stopped trial")


def _trainer_of(run_dir: Path):
    """The process holding the run folder's training lock (a Ray worker)."""
    import psutil

    lock = str(run_dir / LOCK)
    for process in psutil.process_iter():
        try:
            if any(f.path == lock for f in process.open_files()):
                return process
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return None


def test_a_killed_worker_is_retried_from_its_checkpoint_and_the_sweep_finishes(tmp_path, letters_npz, ray_cluster):
    driver, spec, out = _start_slow_sweep(tmp_path, letters_npz, ray_cluster, text=SLOW_SPEC.replace("seeds = [0, 1]", "seeds = [0]"))
    run = out / "base" / "seed0"
    try:
        _wait_for(lambda: _lines(run / "metrics.jsonl") >= 2 and _trainer_of(run) is not None, what="the trial's worker")
        worker = _trainer_of(run)
        worker.send_signal(signal.SIGKILL)
        stdout, stderr = driver.communicate(timeout=300)
    finally:
        driver.kill()
    assert driver.returncode == 0, stderr
    assert "failed, retrying from its checkpoint" in stdout
    trial = json.loads((out / "sweep.json").read_text())["trials"][0]
    assert trial["status"] == "resumed"
    alone = trained_alone(letterlab.config(load_spec(spec).base, seed=0), tmp_path / "alone")
    assert (run / "metrics.jsonl").read_bytes() == (alone / "metrics.jsonl").read_bytes()


SEARCH_SPEC = """base = "mlp-tanh-50"
seeds = [3]
data = "{data}"
[overrides]
train.epochs = {epochs}
[search]
"train.lr" = {{low = 0.005, high = 0.2, log = true}}
"train.batch_size" = [32, 64]
"""


@pytest.mark.parametrize("search, extra", [("random", ["--asha"]), ("optuna", [])])
def test_a_search_draws_settings_in_the_ranges_and_asha_may_stop_trials(tmp_path, letters_npz, ray_cluster, search, extra):
    address, env = ray_cluster
    spec = write_spec(tmp_path, letters_npz(0), epochs=4, text=SEARCH_SPEC)
    out = tmp_path / "sweep"
    done = subprocess.run(sweep_command(spec, out, address, "--search", search, "--trials", "3", *extra),
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    trials = json.loads((out / "sweep.json").read_text())["trials"]
    assert len(trials) == 3 and all(t["seed"] == 3 for t in trials)
    assert {t["status"] for t in trials} <= {"trained", "stopped"} and any(t["status"] == "trained" for t in trials)
    for trial in trials:
        config = json.loads((Path(trial["run"]) / "config.json").read_text())
        assert 0.005 <= config["train"]["lr"] <= 0.2 and config["train"]["batch_size"] in (32, 64)
        assert Path(trial["run"]).parent.name == trial["variant"] and "lr=" in trial["variant"]
        if trial["status"] == "stopped":
            assert trial["epochs"] < 4 and trial["test_accuracy"] is None
    assert len({t["run"] for t in trials}) == 3


@pytest.mark.parametrize("option, value", [("--gpus-per-trial", "0.5"), ("--cpus-per-trial", "4")])
def test_a_trial_no_node_can_hold_is_refused_instead_of_waiting(tmp_path, letters_npz, ray_cluster, option, value):
    address, env = ray_cluster
    spec = write_spec(tmp_path, letters_npz(0))
    done = subprocess.run(sweep_command(spec, tmp_path / "sweep", address, option, value), capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert f"{address}: no Ray node has" in done.stderr and not (tmp_path / "sweep" / "base").exists()


def test_without_an_address_ray_starts_here_quietly_with_its_files_in_the_sweep_folder(tmp_path, letters_npz):
    """Ray's session files go under OUT/ray; where that path is too long for Ray's Unix sockets
    (pytest's tmp_path is), into a temporary folder that is removed at the end."""
    import tempfile

    spec = write_spec(tmp_path, letters_npz(0), epochs=1, text=SPEC.replace("seeds = [0, 1]", "seeds = [0]"))
    short = Path(tempfile.mkdtemp(prefix="ll-", dir="/tmp"))
    leftovers = set(Path(tempfile.gettempdir()).glob("letterlab-ray-*"))
    try:
        for out, kept in ((short / "sweep", True), (tmp_path / "a-folder-name-long-enough-for-ray" / "sweep", False)):
            command = [sys.executable, "-m", "letterlab", "sweep", str(spec), "--out", str(out), "--no-progress"]
            done = subprocess.run(command, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0 and done.stderr == "", done.stderr
            finished = sorted(line.split("] ")[1].split(":")[0] for line in done.stdout.splitlines() if line.startswith("["))
            assert finished == ["base/seed0", "lr-high/seed0"]
            assert len(list((out / "ray").glob("session_2*"))) == kept
            assert set(Path(tempfile.gettempdir()).glob("letterlab-ray-*")) == leftovers
    finally:
        shutil.rmtree(short)


def test_a_search_that_draws_the_same_settings_twice_trains_them_once(tmp_path, letters_npz, ray_cluster):
    address, env = ray_cluster
    text = SEARCH_SPEC.replace('"train.lr" = {{low = 0.005, high = 0.2, log = true}}\n', "")
    spec = write_spec(tmp_path, letters_npz(0), epochs=1, text=text)  # two choices, four draws
    done = subprocess.run(sweep_command(spec, tmp_path / "sweep", address, "--search", "random", "--trials", "4"),
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    runs = [t["run"] for t in result["trials"]]
    assert len(runs) == len(set(runs)) <= 2 and all(t["status"] in ("trained", "reused") for t in result["trials"])
    assert all(row["seeds"] == 1 for row in result["variants"]) and "base" not in {row["name"] for row in result["variants"]}


CV_SPEC = """base = "mlp-tanh-50"
seeds = [0]
folds = 2
data = "{data}"
[overrides]
train.epochs = {epochs}
[variants.lr-high]
train.lr = 0.05
"""


def test_folds_train_a_trial_per_fold_each_validated_on_fonts_it_never_trained_on(tmp_path, letters_npz, ray_cluster):
    address, env = ray_cluster
    spec = write_spec(tmp_path, letters_npz(0), epochs=1, text=CV_SPEC)
    out = tmp_path / "sweep"
    done = subprocess.run(sweep_command(spec, out, address), capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads((out / "sweep.json").read_text())
    trials = {(t["variant"], t["fold"]): t for t in result["trials"]}
    assert set(trials) == {("base", 0), ("base", 1), ("lr-high", 0), ("lr-high", 1)}
    pool = 0
    for (variant, fold), trial in trials.items():
        run = Path(trial["run"])
        assert run == out / variant / f"seed0-fold{fold}" and f"{variant}/seed0-fold{fold}: trained" in done.stdout
        train = json.loads((run / "config.json").read_text())["train"]
        assert (train["val_folds"], train["val_fold"], train["val_split"]) == (2, fold, "font")
        data = json.loads((run / "environment.json").read_text())["data"]
        assert data["fonts"]["fonts_in_train_and_val"] == 0
        pool = pool or data["train"] + data["val"]
        assert data["train"] + data["val"] == pool  # every fold cuts the same pool
    from letterlab.data.run_data import load_run_splits

    vals = [load_run_splits(Path(trials["base", f]["run"])).val for f in (0, 1)]
    assert not set(vals[0].fonts.tolist()) & set(vals[1].fonts.tolist())
    assert len(vals[0]) + len(vals[1]) == pool  # each image validates once
    rows = {row["name"]: row for row in result["variants"]}
    assert (rows["base"]["seeds"], rows["base"]["folds"]) == (1, 2)
    assert rows["base"]["val_mean"] == pytest.approx(np.mean([trials["base", f]["val_accuracy"] for f in (0, 1)]))
    assert rows["lr-high"]["mcnemar"]["seeds"] == 2  # fold by fold against the base's same fold
    differences = [trials["lr-high", f]["val_accuracy"] - trials["base", f]["val_accuracy"] for f in (0, 1)]
    assert rows["lr-high"]["val_paired"]["pairs"] == 2 and rows["lr-high"]["val_paired"]["mean"] == pytest.approx(np.mean(differences))
    assert "1 x 2 folds" in done.stdout
