"""What the homework's own search needs: even conv kernels with TensorFlow's 'SAME' padding, and the
optimizers it names (Nadam, RMSProp) beside SGD and Adam."""

import json
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from letterlab.data.dataset import DataSplits
from letterlab.models.build import build_model
from letterlab.run_config import CNNConfig, ConvBlockConfig, run_from_dict
from letterlab.runs import new_run_dir
from letterlab.training.session import train_run


@pytest.mark.parametrize("kernel", range(2, 10))
def test_every_kernel_from_2_to_9_keeps_the_image_size(kernel):
    model = build_model(CNNConfig(blocks=[ConvBlockConfig(4, kernel=kernel, pool=0), ConvBlockConfig(4, kernel=kernel, pool=2)], fc=[8]))
    assert model[:-1](torch.zeros(3, 1, 28, 28)).shape[0] == 3
    assert model.conv1(torch.zeros(1, 1, 28, 28)).shape == (1, 4, 28, 28)


@pytest.mark.parametrize("kernel", [2, 4, 6, 8])
def test_an_even_kernel_pads_one_less_before_than_after_as_tensorflow_same(kernel):
    conv = build_model(CNNConfig(blocks=[ConvBlockConfig(2, kernel=kernel, pool=0)], fc=[8])).conv1
    x = torch.randn(2, 1, 28, 28)
    before, after = (kernel - 1) // 2, kernel // 2  # TensorFlow: total kernel - 1, the odd one at the end
    expected = F.conv2d(F.pad(x, (before, after, before, after)), conv.weight, conv.bias)
    assert torch.allclose(conv(x), expected, atol=1e-6)


def _splits(make_letters):
    return DataSplits(make_letters(60, seed=1), make_letters(20, seed=2), make_letters(20, seed=3))


@pytest.mark.parametrize("optimizer", ["nadam", "rmsprop"])
def test_nadam_and_rmsprop_train_and_resume_to_the_same_bytes(optimizer, tmp_path, make_letters):
    config = run_from_dict({"model": {"kind": "cnn", "blocks": [{"filters": 3, "kernel": 2, "pool": 2}], "fc": [8]},
                            "train": {"optimizer": optimizer, "lr": 0.003, "momentum": 0.5 * (optimizer == "rmsprop"),
                                      "epochs": 3, "batch_size": 16, "seed": 2}})
    splits, cpu = _splits(make_letters), torch.device("cpu")
    whole = new_run_dir(str(tmp_path / "whole"), "")
    train_run(config, whole, splits, cpu, progress=False)
    run = new_run_dir(str(tmp_path / "run"), "")
    train_run(replace(config, train=replace(config.train, epochs=1)), run, splits, cpu, progress=False)
    train_run(config, run, splits, cpu, resume=True, progress=False)
    assert (run / "metrics.jsonl").read_bytes() == (whole / "metrics.jsonl").read_bytes()
    losses = [json.loads(line)["train_loss"] for line in (whole / "metrics.jsonl").read_text().splitlines()]
    assert losses[-1] < losses[0]
