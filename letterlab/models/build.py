"""Build an nn.Module from a model config and a class count. Every net takes float images (N, 1, 28, 28)
in [0, 1] and returns logits (N, classes): 10 for A-J, as many as the data has classes."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from letterlab import IMAGE_SIZE, NUM_CLASSES
from letterlab.models.layers import BatchNorm2d, Dropout, EvenKernelConv2d, activation
from letterlab.models.resnet import build_resnet
from letterlab.run_config import CNNConfig, ConvBlockConfig, MLPConfig, ModelConfig, ResNetConfig, cnn_output_size


def build_model(config: ModelConfig, classes: int = NUM_CLASSES) -> nn.Sequential:
    if isinstance(config, MLPConfig):
        model = build_mlp(config, classes)
    elif isinstance(config, ResNetConfig):
        model = build_resnet(config.widths, config.residual, config.dropout, classes)
    else:
        model = build_cnn(config, classes)
    if not isinstance(config, MLPConfig):
        # channels_last: oneDNN's convolutions then run without layout copies (faster for training and
        # inference on a CPU, docs/performance.md); loaded weights keep this layout.
        model = model.to(memory_format=torch.channels_last)
    initialise(model, config.init, config.init_std)
    return model


def build_mlp(config: MLPConfig, classes: int = NUM_CLASSES) -> nn.Sequential:
    layers: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
    width = IMAGE_SIZE * IMAGE_SIZE
    for i, hidden in enumerate(config.hidden, start=1):
        layers[f"fc{i}"] = nn.Linear(width, hidden)
        layers[f"{config.activation}{i}"] = activation(config.activation)
        width = hidden
    layers["out"] = nn.Linear(width, classes)
    return nn.Sequential(layers)


def conv(channels: int, block: ConvBlockConfig) -> nn.Conv2d:
    """The block's convolution with 'same' padding. An odd kernel pads kernel // 2 on every side; an
    even one (stride 1 only) pads one less before than after, as TensorFlow's 'SAME' does."""
    if block.kernel % 2:
        return nn.Conv2d(channels, block.filters, block.kernel, stride=block.stride, padding=block.kernel // 2)
    return EvenKernelConv2d(channels, block.filters, block.kernel)


def build_cnn(config: CNNConfig, classes: int = NUM_CLASSES) -> nn.Sequential:
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    if config.input_dropout:
        layers["input_dropout"] = Dropout(config.input_dropout)
    channels = 1
    for i, block in enumerate(config.blocks, start=1):
        layers[f"conv{i}"] = conv(channels, block)
        if block.pool > 1:
            # Pool before the activation: max-pool commutes with any increasing function, and the
            # activation then runs on 4x fewer values.
            layers[f"pool{i}"] = nn.MaxPool2d(block.pool)
        layers[f"{config.activation}{i}"] = activation(config.activation)
        if block.batch_norm:
            layers[f"bn{i}"] = BatchNorm2d(block.filters, config.batch_norm_eval)
        if block.dropout:
            layers[f"dropout{i}"] = Dropout(block.dropout)
        channels = block.filters
    layers["flatten"] = nn.Flatten()
    width = channels * cnn_output_size(config, IMAGE_SIZE) ** 2
    for i, hidden in enumerate(config.fc, start=1):
        layers[f"fc{i}"] = nn.Linear(width, hidden)
        layers[f"fc{i}_{config.activation}"] = activation(config.activation)
        if config.fc_dropout:
            layers[f"fc{i}_dropout"] = Dropout(config.fc_dropout)
        width = hidden
    layers["out"] = nn.Linear(width, classes)
    return nn.Sequential(layers)


def initialise(model: nn.Module, scheme: str, std: float) -> None:
    """Weights of every Linear/Conv2d by `scheme`, biases zero; "default" keeps PyTorch's init."""
    if scheme == "default":
        return
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            if scheme == "normal":
                nn.init.normal_(module.weight, 0.0, std)
            elif scheme == "xavier":
                nn.init.xavier_normal_(module.weight)
            elif scheme == "kaiming":
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            nn.init.zeros_(module.bias)
