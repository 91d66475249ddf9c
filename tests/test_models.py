"""Models against oracles: parameter counts by formula, output shapes, init, layer identities."""

import pytest
import torch
from torch import nn

from letterlab.cli.format import layers_text
from letterlab.models.build import build_model
from letterlab.models.describe import count_parameters, describe, training_flops_per_image
from letterlab.models.layers import BatchNorm2d, Dropout
from letterlab.models.presets import PRESETS, get_preset
from letterlab.run_config import CNNConfig, ConvBlockConfig, MLPConfig


def mlp_parameters(widths):
    return sum(a * b + b for a, b in zip(widths, widths[1:]))


@pytest.mark.parametrize("hidden", [[50], [500], [100, 100], [7, 3, 5]])
def test_mlp_parameter_count_matches_formula(hidden):
    model = build_model(MLPConfig(hidden=hidden, activation="tanh"))
    assert count_parameters(model) == mlp_parameters([784, *hidden, 10])


def test_homework_parameter_counts():
    counts = {name: count_parameters(build_model(get_preset(name).model)) for name in PRESETS}
    assert counts["mlp-tanh-500"] == 397_510
    assert counts["mlp-tanh-100x2"] == 89_610
    # conv 1->64, 64->128, 128->128, 128->128 (5x5 + bias), fc 6272->256->10
    cnn = (25 * 1 * 64 + 64) + (25 * 64 * 128 + 128) + 2 * (25 * 128 * 128 + 128) + (6272 * 256 + 256) + (256 * 10 + 10)
    assert counts["cnn"] == cnn == 2_634_506
    assert counts["cnn-bn-dropout"] == cnn + 2 * (64 + 3 * 128)  # batch norm scale and offset


def test_summary_lists_shapes_and_total():
    model = build_model(get_preset("cnn").model)
    rows = {row.name: row for row in describe(model)}
    assert rows["pool1"].output_shape == (64, 14, 14)
    assert rows["conv4"].output_shape == (128, 7, 7)
    assert rows["flatten"].output_shape == (6272,)
    text = layers_text(describe(model), "cnn")
    assert "Total params: 2,634,506" in text and "(None, 64, 14, 14)" in text
    assert training_flops_per_image(build_model(get_preset("mlp-tanh-50").model)) == 3 * 2 * (784 * 50 + 50 * 10)


def test_models_output_logits_for_a_batch():
    x = torch.rand(3, 1, 28, 28)
    for name in PRESETS:
        assert build_model(get_preset(name).model)(x).shape == (3, 10)


def test_normal_init_uses_std_and_zero_biases():
    torch.manual_seed(0)
    model = build_model(MLPConfig(hidden=[500], init="normal", init_std=0.1))
    weight = model.fc1.weight
    assert abs(weight.std().item() - 0.1) < 0.005 and abs(weight.mean().item()) < 0.005
    assert torch.all(model.fc1.bias == 0) and torch.all(model.out.bias == 0)


def test_built_cnn_pools_before_the_activation_without_changing_the_function():
    model = build_model(CNNConfig(blocks=[ConvBlockConfig(4, pool=2)], fc=[], fc_dropout=0.0, activation="tanh"))
    names = [name for name, _ in model.named_children()]
    assert names.index("pool1") < names.index("tanh1")  # the order build_cnn chose for speed
    x = torch.randn(2, 1, 28, 28)
    textbook = nn.functional.max_pool2d(torch.tanh(model.conv1(x)), 2)  # activation, then pooling
    assert torch.allclose(model.tanh1(model.pool1(model.conv1(x))), textbook)


def test_dropout_scales_and_is_identity_in_eval():
    layer = Dropout(0.25)
    x = torch.ones(200_000)
    dropped = layer(x)
    assert abs((dropped == 0).float().mean().item() - 0.25) < 0.01
    assert torch.allclose(dropped[dropped != 0], torch.tensor(1 / 0.75))
    assert torch.equal(layer.eval()(x), x)


def test_batch_norm_eval_with_batch_statistics():
    layer = BatchNorm2d(3, eval_statistics="batch").eval()
    x = torch.randn(8, 3, 5, 5) * 4 + 2
    y = layer(x)
    assert torch.allclose(y.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    running = BatchNorm2d(3, eval_statistics="running").eval()
    assert torch.allclose(running(x), x / (1 + 1e-5) ** 0.5, atol=1e-5)


def test_cnn_config_strides_and_no_pool():
    config = CNNConfig(blocks=[ConvBlockConfig(8, kernel=3, stride=2, pool=0)], fc=[16], fc_dropout=0.0)
    rows = {row.name: row for row in describe(build_model(config))}
    assert rows["conv1"].output_shape == (8, 14, 14)
    assert "pool1" not in rows


def test_read_only_images_become_a_tensor_without_warnings():
    import warnings

    import numpy as np

    from letterlab.models.inputs import images_to_tensor

    images = np.frombuffer(bytes(range(256)) * 49, dtype=np.uint8).reshape(16, 28, 28)  # read-only, like idx data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = images_to_tensor(images)
    assert x.shape == (16, 1, 28, 28) and x.max().item() == 1.0 and x[0, 0, 0, 1].item() == pytest.approx(1 / 255)
