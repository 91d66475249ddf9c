"""Training-data options any preset can use: no validation part (val_fraction 0), extra training
images (extra_train) and cleaning the training part (clean_train); and the sweep table of the report."""

import json
import math

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from letterlab.data.dataset import LetterImages, LoadedData
from letterlab.data.npz import save_npz
from letterlab.data.run_data import load_splits
from letterlab.data.split import make_splits
from letterlab.errors import ConfigError
from letterlab.pipeline import epoch_hooks
from letterlab.reports.blocks import Table
from letterlab.reports.sweep_section import how_far_blocks, sweep_rows
from letterlab.run_config import run_from_dict
from letterlab.runs import new_run_dir
from letterlab.training.session import train_run


def _config(data, **train):
    return run_from_dict({"data": str(data), "model": {"kind": "mlp", "hidden": [8]}, "train": {"epochs": 2, "batch_size": 16, **train}})


def test_val_fraction_zero_trains_on_the_whole_pool(tmp_path, make_letters):
    pool = make_letters(100, seed=1)
    splits = make_splits(LoadedData(pool, make_letters(30, seed=2)), val_fraction=0.0)
    assert len(splits.train) == 100 and len(splits.val) == 0 and len(splits.test) == 30
    config = run_from_dict({"model": {"kind": "mlp", "hidden": [8]}, "train": {"epochs": 2, "batch_size": 16, "val_fraction": 0.0}})
    run = new_run_dir(str(tmp_path / "run"), "")
    state = train_run(config, run, splits, torch.device("cpu"), progress=False, extra_hooks=epoch_hooks(config))
    assert state.epoch == 2
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all(math.isnan(m["val_accuracy"]) for m in metrics) and all(m["train_loss"] > 0 for m in metrics)
    tags = EventAccumulator(str(run)).Reload().Tags()
    assert "train/loss" in tags["scalars"] and "val/accuracy" not in tags["scalars"]
    assert not any("confusion" in tag for tag in tags["images"])  # nothing to draw without validation


def test_val_fraction_must_stay_below_one():
    with pytest.raises(ConfigError, match="val_fraction"):
        run_from_dict({"train": {"val_fraction": 1.0}})


def test_extra_training_images_go_to_the_training_part_only(tmp_path, make_letters):
    main, extra = tmp_path / "main.npz", tmp_path / "extra.npz"
    save_npz(main, make_letters(100, seed=1), make_letters(30, seed=2))
    save_npz(extra, make_letters(40, seed=3), make_letters(10, seed=4))
    plain, more = load_splits(_config(main)), load_splits(_config(main, extra_train=str(extra)))
    assert len(more.train) == len(plain.train) + 50  # every image of the extra source, its test part too
    assert np.array_equal(more.val.images, plain.val.images) and np.array_equal(more.test.images, plain.test.images)
    assert np.array_equal(more.train.images[-10:], make_letters(10, seed=4).images)


def test_extra_images_that_copy_validation_test_or_training_images_are_left_out(tmp_path, make_letters):
    main = tmp_path / "main.npz"
    save_npz(main, make_letters(100, seed=1), make_letters(30, seed=2))
    plain, same = load_splits(_config(main)), load_splits(_config(main, extra_train=str(main)))
    assert len(same.train) == len(plain.train)  # the main source as its own extra adds nothing, leaks nothing


def test_cleaning_drops_copies_and_conflicts_from_training_only(tmp_path, make_letters):
    train, test = make_letters(100, seed=1), make_letters(30, seed=2)
    images, labels = train.images.copy(), train.labels.copy()
    images[1] = images[0]  # an exact copy with another label: both go
    images[30] = images[10]  # an exact copy with the same label (labels cycle 0..9): the second goes
    images[21] = test.images[5]  # a copy of a test image: goes from training
    path = tmp_path / "data.npz"
    save_npz(path, LetterImages(images, labels), test)
    plain, clean = load_splits(_config(path, val_fraction=0.0)), load_splits(_config(path, val_fraction=0.0, clean_train="exact"))
    assert len(plain.train) == 100 and len(clean.train) == 100 - 4
    assert np.array_equal(clean.test.images, plain.test.images)


def test_near_cleaning_drops_near_duplicates_with_other_labels(tmp_path, make_letters):
    train, test = make_letters(100, seed=1), make_letters(30, seed=2)
    images = train.images.copy()
    images[3] = np.clip(images[2].astype(int) + 1, 0, 255)  # almost the same image, labels 2 and 3
    path = tmp_path / "data.npz"
    save_npz(path, LetterImages(images, train.labels), test)
    exact, near = (load_splits(_config(path, val_fraction=0.0, clean_train=kind)) for kind in ("exact", "near"))
    assert len(exact.train) == 100 and len(near.train) == 98


def test_the_sweep_table_shows_spread_interval_and_mcnemar(tmp_path):
    variant = {"name": "wide", "seeds": 2, "val_mean": 0.91, "val_sd": 0.01414, "test_mean": 0.82, "test_sd": 0.02828,
               "test_ci95": [0.566, 1.0], "mcnemar": {"seeds": 2, "only_variant_correct": 30, "only_base_correct": 12, "p_value": 0.00825},
               "parameters": 12345, "train_seconds": 60.0}
    base = variant | {"name": "base", "val_mean": None, "test_ci95": None, "mcnemar": None}
    assert sweep_rows([base, variant]) == [  # a sweep.json without the paired differences (written before them)
        ["base", "2", "-", "(the base)", "82.00 ± 2.83", "-", "(the base)", "12,345", "60.0"],
        ["wide", "2", "91.00 ± 1.41", "-", "82.00 ± 2.83", "56.60 to 100.00", "+30 / -12, p = 0.00825", "12,345", "60.0"]]
    paired = variant | {"val_paired": {"pairs": 2, "mean": 0.0125, "sd": 0.0035}}
    assert sweep_rows([paired])[0][3] == "+1.25 ± 0.35 (2 pairs)"
    (tmp_path / "sweep.json").write_text(json.dumps({"spec": "s.toml", "trials": [{}, {}], "variants": [base, variant]}))
    blocks = how_far_blocks([], tmp_path)
    assert blocks[0].text == "How far can we go" and isinstance(blocks[-1], Table) and blocks[-1].rows[1][0] == "wide"
    assert how_far_blocks([], None) == []


def test_an_adam_checkpoint_from_a_gpu_resumes_on_a_cpu():
    from letterlab.training.checkpoint import match_capturable

    weight = torch.nn.Parameter(torch.ones(3))
    on_gpu = torch.optim.Adam([weight], capturable=True)  # what a GPU run saves: capturable, step counts as tensors
    on_gpu.state[weight] = {"step": torch.tensor(5.0), "exp_avg": torch.zeros(3), "exp_avg_sq": torch.zeros(3)}
    on_cpu = torch.optim.Adam([weight])
    on_cpu.load_state_dict(on_gpu.state_dict())
    assert on_cpu.param_groups[0]["capturable"]  # torch restores the saved flag ...
    match_capturable(on_cpu)  # ... which letterlab sets for the device it resumes on
    weight.grad = torch.ones(3)
    on_cpu.step()
    assert not on_cpu.param_groups[0]["capturable"] and float(on_cpu.state[weight]["step"]) == 6.0


def test_a_missing_sweep_folder_is_refused_before_any_training(tmp_path, capsys):
    from letterlab.cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main(["reproduce", "--quick", "--out", str(tmp_path / "out"), "--sweep", str(tmp_path / "missing")])
    assert exit_info.value.code == 2 and "not a sweep folder (no sweep.json)" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
