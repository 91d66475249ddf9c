"""Filters, feature maps, saliency and probes against hand-computed references; CLI inspect/compare/calibrate end to end."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from letterlab.cli.main import main
from letterlab.data.dataset import DataSplits, LetterImages
from letterlab.data.npz import save_npz
from letterlab.errors import LetterlabError
from letterlab.evaluation.inspect import explain, feature_maps, layer_weights, tile
from letterlab.evaluation.probes import choose_probes, probes_per_epoch
from letterlab.models.build import build_model
from letterlab.models.presets import preset_dict
from letterlab.run_config import run_from_dict
from letterlab.runs import PROBES


def model_of(preset: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(run_from_dict(preset_dict(preset)).model).eval()


@pytest.fixture(scope="module")
def cnn():
    return model_of("cnn")


def test_filter_weights_cnn_and_mlp(cnn):
    kernels, what = layer_weights(cnn, 1)
    assert kernels.shape == (64, 5, 5) and np.array_equal(kernels, cnn.conv1.weight.detach().numpy()[:, 0])
    deeper, what2 = layer_weights(cnn, 2)
    assert deeper.shape == (128, 5, 5) and "mean over its 64 input channels" in what2
    assert np.allclose(deeper, cnn.conv2.weight.detach().numpy().mean(1))
    mlp = model_of("mlp-tanh-50")
    weights, _ = layer_weights(mlp, 1)
    assert weights.shape == (50, 28, 28) and np.array_equal(weights[3].ravel(), mlp.fc1.weight.detach().numpy()[3])
    with pytest.raises(LetterlabError):
        layer_weights(cnn, 5)


def test_tile_is_an_8x8_grid_each_scaled_to_its_range():
    maps = np.arange(64 * 25, dtype=float).reshape(64, 5, 5)
    grid = tile(maps, pad=1)
    assert grid.shape == (8 * 6 + 1, 8 * 6 + 1)
    first, last = grid[1:6, 1:6], grid[43:48, 43:48]
    assert first.min() == 0 and first.max() == 1 and np.allclose(first, last)
    assert grid[0].tolist() == [0.5] * 49


def test_feature_maps_are_conv_pool_relu(cnn):
    x = torch.rand(3, 1, 28, 28)
    maps = feature_maps(cnn, x, 1)
    assert maps.shape == (3, 64, 14, 14)
    assert torch.allclose(maps, F.relu(F.max_pool2d(cnn.conv1(x), 2)), atol=1e-6)
    assert feature_maps(cnn, x, 2).shape == (3, 128, 7, 7)
    with pytest.raises(LetterlabError):
        feature_maps(model_of("mlp-tanh-50"), x, 1)


def test_saliency_matches_autograd_and_leaves_parameter_gradients_alone(cnn):
    mlp = model_of("mlp-tanh-50")
    x = torch.rand(2, 1, 28, 28)
    probs, saliency, cam = explain(mlp, x)
    assert cam is None and np.allclose(probs.sum(1), 1)
    reference = x.clone().requires_grad_(True)
    logits = mlp(reference)
    logits[0, logits[0].argmax()].backward()
    assert np.allclose(saliency[0], reference.grad[0, 0].abs().numpy(), atol=1e-6)
    mlp.zero_grad(set_to_none=True)
    probs, saliency, cam = explain(cnn, x)
    assert cam.shape == (2, 28, 28) and (cam >= 0).all() and saliency.shape == (2, 28, 28)
    assert all(p.grad is None for p in cnn.parameters())


def test_probes_choice_is_seeded_and_balanced():
    labels = np.arange(300) % 10
    first, again = choose_probes(labels, 2, seed=3), choose_probes(labels, 2, seed=3)
    assert np.array_equal(first, again) and np.bincount(labels[first]).tolist() == [2] * 10
    assert not np.array_equal(first, choose_probes(labels, 2, seed=4))


def test_probe_hook_logs_images_and_restores_training_mode(tmp_path, cnn, make_letters):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter

    val = make_letters(60)
    writer = SummaryWriter(str(tmp_path))
    context = SimpleNamespace(run_dir=tmp_path, config=run_from_dict(preset_dict("cnn")), device=torch.device("cpu"),
                              splits=DataSplits(val, val, val), writer=writer)
    hook = probes_per_epoch(context)
    cnn.train()
    for epoch in (1, 2):
        hook(SimpleNamespace(model=cnn), SimpleNamespace(epoch=epoch))
    writer.close()
    assert cnn.training and all(p.grad is None for p in cnn.parameters())
    stored = np.load(tmp_path / PROBES)
    assert np.array_equal(stored["images"], val.images[stored["val_index"]]) and len(stored["labels"]) == 20
    events = EventAccumulator(str(tmp_path)).Reload()
    assert {"probes/predictions", "probes/filters", "probes/feature_maps"} <= set(events.Tags()["images"])
    assert [e.step for e in events.Images("probes/feature_maps")] == [1, 2]
    cnn.eval()


def test_cli_inspect_compare_calibrate(tmp_path, capsys):
    rng = np.random.default_rng(0)
    labels = np.arange(300) % 10
    images = np.zeros((300, 28, 28), np.uint8)
    for i, label in enumerate(labels):  # a learnable set: a bright bar whose row is the label
        images[i, 2 + 2 * label:4 + 2 * label] = 255
    images = np.clip(images + rng.integers(0, 40, images.shape), 0, 255).astype(np.uint8)
    data = tmp_path / "bars.npz"
    save_npz(data, LetterImages(images, labels))
    run = tmp_path / "run"
    assert main(["train", "--preset", "mlp-tanh-50", "--epochs", "2", "--data", str(data), "--out", str(run), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["inspect", str(run), "--filters", "--saliency", "0", "1"]) == 0
    assert (run / "figures" / "filters_layer1.png").exists() and (run / "figures" / "saliency_0_1.png").exists()
    assert main(["inspect", str(run), "--maps", "0"]) == 2  # an MLP has no feature maps
    assert main(["inspect", str(run), "--saliency", "100000"]) == 2
    capsys.readouterr()
    assert main(["compare", str(run), str(run), "--json"]) == 0
    same = json.loads(capsys.readouterr().out)
    assert same["only_a_correct"] == same["only_b_correct"] == 0 and same["p_value"] == 1.0 and not same["significant"]
    assert same["a"]["n"] == 60 and same["a"]["ci95"][0] <= same["a"]["accuracy"] <= same["a"]["ci95"][1]
    assert main(["calibrate", str(run), "--json"]) == 0
    calibration = json.loads(capsys.readouterr().out)
    assert calibration["temperature"] > 0 and calibration["after"]["accuracy"] == calibration["before"]["accuracy"]
    assert (run / "figures" / "reliability.png").exists() and (run / "calibration.json").exists()


def test_residual_net_filters_maps_and_grad_cam():
    model = build_model(run_from_dict({"model": {"kind": "resnet", "widths": [4, 8], "residual": [0, 1]}}).model).eval()
    weights, what = layer_weights(model, 1)
    assert weights.shape == (4, 3, 3) and what.startswith("conv1")
    x = torch.rand(2, 1, 28, 28)
    assert feature_maps(model, x, 1).shape == (2, 4, 28, 28)
    assert feature_maps(model, x, 2).shape == (2, 8, 14, 14)  # after the stage's residual block
    probs, saliency, cam = explain(model, x)
    assert probs.shape == (2, 10) and saliency.shape == (2, 28, 28) and cam.shape == (2, 28, 28)
