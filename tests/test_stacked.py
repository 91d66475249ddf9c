"""Several seeds trained as one stacked model must match the same seeds trained one by one."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from letterlab.data.dataset import LetterImages, LoadedData
from letterlab.data.split import make_splits
from letterlab.models.build import build_model
from letterlab.models.presets import get_preset
from letterlab.run_config import MLPConfig
from letterlab.training.session import train_run
from letterlab.training.stacked import StackedMLP, can_stack, train_stacked


@pytest.fixture
def splits():
    rng = np.random.default_rng(0)
    labels = np.arange(300) % 10
    # Learnable: each letter a different bright band plus noise.
    images = rng.integers(0, 60, size=(300, 28, 28)).astype(np.uint8)
    for i, label in enumerate(labels):
        images[i, 2 * label:2 * label + 3] = 220
    return make_splits(LoadedData(LetterImages(images, labels.astype(np.int64), "bands")), seed=0)


def test_stacked_forward_equals_each_model():
    models = []
    for seed in range(3):
        torch.manual_seed(seed)
        models.append(build_model(MLPConfig(hidden=[20, 15], activation="tanh")))
    stack = StackedMLP(models, "tanh")
    x = torch.rand(3, 7, 1, 28, 28)
    out = stack(x.flatten(2))
    for seed, model in enumerate(models):
        assert torch.allclose(out[seed], model(x[seed]), atol=1e-5)


@pytest.mark.parametrize("preset, overrides", [
    ("mlp-tanh-100x2", {}), ("mlp-sigmoid-50", {}),
    ("mlp-tanh-50", {"schedule": "one_cycle", "warmup_fraction": 0.3}),  # the rate changes every batch
    ("mlp-tanh-50", {"optimizer": "adam", "lr": 0.001, "label_smoothing": 0.1}),  # autograd, not the written-out step
])
def test_each_stacked_seed_matches_its_separate_run(tmp_path, splits, preset, overrides):
    configs = [get_preset(preset, epochs=3, seed=seed, **overrides) for seed in (0, 1, 2)]
    assert can_stack(configs)
    stacked_dirs = [tmp_path / f"stacked{seed}" for seed in (0, 1, 2)]
    for folder in stacked_dirs:
        folder.mkdir()
    train_stacked(configs, stacked_dirs, splits, torch.device("cpu"))
    for config, folder in zip(configs, stacked_dirs):
        alone = tmp_path / f"alone{config.train.seed}"
        alone.mkdir()
        train_run(config, alone, splits, torch.device("cpu"), progress=False)
        for name, tensor in load_file(str(alone / "model.safetensors")).items():
            assert torch.allclose(load_file(str(folder / "model.safetensors"))[name], tensor, atol=2e-4), name
        read = lambda path: [json.loads(line) for line in path.read_text().splitlines()]
        for mine, theirs in zip(read(folder / "metrics.jsonl"), read(alone / "metrics.jsonl")):
            assert (mine["epoch"], mine["first_step"], mine["last_step"]) == (theirs["epoch"], theirs["first_step"], theirs["last_step"])
            assert np.allclose(mine["batch_loss"], theirs["batch_loss"], atol=1e-4)
            assert mine["val_accuracy"] == pytest.approx(theirs["val_accuracy"], abs=0.01)
            assert mine["first_layer_grad"] == pytest.approx(theirs["first_layer_grad"], rel=1e-3)


def test_only_seed_siblings_stack():
    assert not can_stack([get_preset("mlp-tanh-50", seed=0)])
    assert not can_stack([get_preset("mlp-tanh-50", seed=0), get_preset("mlp-tanh-500", seed=1)])
    assert not can_stack([get_preset("cnn", seed=0), get_preset("cnn", seed=1)])
    assert not can_stack([get_preset("mlp-tanh-50", seed=0), get_preset("mlp-tanh-50", seed=1, lr=0.1)])
    augmented = {"augment": {"rotate": 5.0}}
    assert not can_stack([get_preset("mlp-tanh-50", seed=s, **augmented) for s in (0, 1)])  # augmentation: separate runs


def test_train_seeds_command_writes_a_run_folder_per_seed(tmp_path, splits):
    from letterlab.cli.main import main

    np.savez(tmp_path / "bands.npz", images=np.concatenate([splits.train.images, splits.val.images, splits.test.images]),
             labels=np.concatenate([splits.train.labels, splits.val.labels, splits.test.labels]))
    assert main(["train", "--preset", "mlp-tanh-50", "--epochs", "2", "--seeds", "2", "--seed", "5",
                 "--data", str(tmp_path / "bands.npz"), "--out", str(tmp_path / "runs"), "--device", "cpu"]) == 0
    for seed in (5, 6):
        run = tmp_path / "runs" / f"seed{seed}"
        assert json.loads((run / "config.json").read_text())["train"]["seed"] == seed
        assert json.loads((run / "results.json").read_text())["epochs"] == 2
