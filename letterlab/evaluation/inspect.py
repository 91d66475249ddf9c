"""Looking inside a trained model: first-layer filters, feature maps and saliency (input gradient and
Grad-CAM), as arrays, as figures in RUN/figures/ and as TensorBoard images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from letterlab import LETTERS
from letterlab.errors import LetterlabError
from letterlab.runs import FIGURES


def first_conv(module: nn.Module) -> nn.Conv2d | None:
    """The module itself if it is a convolution, or the convolution a conv-bn-relu block starts with."""
    if isinstance(module, nn.Sequential) and len(module):
        module = module[0]
    return module if isinstance(module, nn.Conv2d) else None


def conv_layers(model: nn.Module) -> list[str]:
    """Names of the model's conv children in order (the CNN's conv1, conv2, ...; the residual net's
    conv-bn-relu stage entries); empty for an MLP."""
    return [name for name, module in model.named_children() if first_conv(module) is not None]


def layer_weights(model: nn.Module, layer: int = 1) -> tuple[np.ndarray, str]:
    """Kernels of conv layer `layer` (1-based) as float (count, k, k), or for an MLP the first hidden
    layer's weights as (hidden, 28, 28); with a description of what is drawn."""
    convs = conv_layers(model)
    if not convs:
        if layer != 1:
            raise LetterlabError(f"--layer {layer}: an MLP's weights can be drawn as images only for its first layer")
        weight = model.fc1.weight.detach().cpu().numpy()
        side = int(round(np.sqrt(weight.shape[1])))
        return weight.reshape(len(weight), side, side), f"fc1: weights of {len(weight)} hidden units as {side}x{side} images"
    if not 1 <= layer <= len(convs):
        raise LetterlabError(f"--layer {layer}: the model has conv layers 1..{len(convs)}")
    weight = first_conv(getattr(model, convs[layer - 1])).weight.detach().cpu().float().numpy()  # (out, in, k, k)
    count, inputs, k = weight.shape[:3]
    what = f"{convs[layer - 1]}: {count} kernels {k}x{k}"
    if inputs > 1:
        return weight.mean(1), f"{what}, mean over its {inputs} input channels"
    return weight[:, 0], what


def tile(maps: np.ndarray, columns: int | None = None, pad: int = 1) -> np.ndarray:
    """float (H, W) in [0, 1]: maps (n, h, w) in a grid, each scaled to its own min..max, with
    `pad` pixels of background (0.5 grey) between them."""
    n, h, w = maps.shape
    columns = columns or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / columns))
    low = maps.min((1, 2), keepdims=True)
    span = maps.max((1, 2), keepdims=True) - low
    scaled = np.divide(maps - low, span, out=np.zeros(maps.shape), where=span > 0)
    grid = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad), 0.5)
    for i, image in enumerate(scaled):
        r, c = divmod(i, columns)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = image
    return grid


def block_end(model: nn.Module, layer: int) -> str:
    """The child whose output is conv block `layer`'s maps: after the conv, its pooling and its
    activation (the homework's 14x14x64 for layer 1), before batch norm and dropout; for the
    residual net, after the stage's residual blocks."""
    convs = conv_layers(model)
    if not convs:
        raise LetterlabError("feature maps need a CNN; this model has no conv layers")
    if not 1 <= layer <= len(convs):
        raise LetterlabError(f"layer {layer}: the model has conv layers 1..{len(convs)}")
    names = [name for name, _ in model.named_children()]
    end = names.index(convs[layer - 1])
    def same_block(name: str) -> bool:
        return (name.endswith(str(layer)) and name.startswith(("pool", "relu", "tanh", "sigmoid"))) or name.startswith(f"res{layer}_")

    while end + 1 < len(names) and same_block(names[end + 1]):
        end += 1
    return names[end]


def feature_maps(model: nn.Module, x: torch.Tensor, layer: int = 1) -> torch.Tensor:
    """Output maps (N, C, h, w) of conv block `layer` for float images x (N, 1, 28, 28)."""
    stop = block_end(model, layer)
    with torch.no_grad():
        for name, module in model.named_children():
            x = module(x)
            if name == stop:
                return x
    raise AssertionError(stop)


def explain(model: nn.Module, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Probabilities (N, 10), gradient saliency |d logit / d x| (N, 28, 28) of the predicted class,
    and for CNNs Grad-CAM (N, 28, 28) at the last conv block (None for MLPs). Parameter gradients
    are not touched (torch.autograd.grad), so this is safe in the middle of training."""
    convs = conv_layers(model)
    captured = []
    handle = None
    if convs:
        handle = getattr(model, block_end(model, len(convs))).register_forward_hook(lambda m, i, out: captured.append(out))
    x = x.detach().clone().requires_grad_(True)
    try:
        with torch.enable_grad():
            logits = model(x)
            score = logits.gather(1, logits.argmax(1, keepdim=True)).sum()
            grads = torch.autograd.grad(score, [x, *captured])
    finally:
        if handle is not None:
            handle.remove()
    probs = torch.softmax(logits.detach().float(), 1).cpu().numpy()
    saliency = grads[0].abs().amax(1).float().cpu().numpy()
    if not convs:
        return probs, saliency, None
    activations, weights = captured[0].detach(), grads[1].mean((2, 3), keepdim=True)  # (N, C, h, w), (N, C, 1, 1)
    cam = F.relu((weights * activations).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    return probs, saliency, cam.float().cpu().numpy()


def filters_figure(model: nn.Module, layer: int = 1):
    from letterlab.evaluation.figures import new_figure

    weights, what = layer_weights(model, layer)
    figure = new_figure(figsize=(6, 6.3), dpi=100)
    axes = figure.subplots()
    axes.imshow(tile(weights), cmap="gray", interpolation="nearest")
    axes.set_title(f"{what}\n(each scaled to its own min..max)", fontsize=9)
    axes.axis("off")
    figure.tight_layout()
    return figure


def maps_figure(model: nn.Module, images: np.ndarray, captions: list[str], layer: int = 1):
    """One row per image (uint8 (N, 28, 28)): the input beside the grid of its maps after conv block `layer`."""
    from letterlab.evaluation.figures import new_figure
    from letterlab.models.inputs import images_to_tensor

    device = next(model.parameters()).device
    maps = feature_maps(model, images_to_tensor(images, device), layer).float().cpu().numpy()  # (N, C, h, w)
    figure = new_figure(figsize=(9, 4.8 * len(images)), dpi=100)
    axes = figure.subplots(len(images), 2, squeeze=False, gridspec_kw={"width_ratios": [1, 2.2]})
    for row, (image, caption, image_maps) in enumerate(zip(images, captions, maps)):
        axes[row, 0].imshow(image, cmap="gray", vmin=0, vmax=255)
        axes[row, 0].set_title(caption, fontsize=9)
        axes[row, 1].imshow(tile(image_maps), cmap="gray", interpolation="nearest")
        axes[row, 1].set_title(f"{block_end(model, layer)}: {maps.shape[1]} maps of {maps.shape[2]}x{maps.shape[3]}", fontsize=9)
        for ax in axes[row]:
            ax.axis("off")
    figure.tight_layout()
    return figure


def saliency_figure(model: nn.Module, images: np.ndarray, captions: list[str], classes=LETTERS):
    """One row per image: the image, its gradient saliency and (CNNs) Grad-CAM over the image."""
    from letterlab.evaluation.figures import new_figure
    from letterlab.models.inputs import images_to_tensor

    probs, saliency, cam = explain(model, images_to_tensor(images, next(model.parameters()).device))
    columns = 2 if cam is None else 3
    figure = new_figure(figsize=(2.4 * columns, 2.5 * len(images)), dpi=100)
    axes = figure.subplots(len(images), columns, squeeze=False)
    for i, image in enumerate(images):
        best = int(probs[i].argmax())
        axes[i, 0].imshow(image, cmap="gray", vmin=0, vmax=255)
        axes[i, 0].set_title(f"{captions[i]}\npredicted {classes[best]} ({probs[i, best]:.2f})", fontsize=8)
        axes[i, 1].imshow(saliency[i], cmap="hot")
        axes[i, 1].set_title("gradient saliency", fontsize=8)
        if cam is not None:
            axes[i, 2].imshow(image, cmap="gray", vmin=0, vmax=255)
            axes[i, 2].imshow(cam[i], cmap="jet", alpha=0.45)
            axes[i, 2].set_title("Grad-CAM (last conv block)", fontsize=8)
        for ax in axes[i]:
            ax.axis("off")
    figure.tight_layout()
    return figure


def inspect_run(run_dir: Path, *, filters: bool = False, layer: int = 1, maps: list[int] = (), saliency: list[int] = (),
                data_path: str | None = None, device=None) -> list[Path]:
    """Write the asked-for figures to RUN/figures/ as PNGs and log them to the run's TensorBoard
    (tags inspect/..., step = epochs trained). Image indices refer to the test images."""
    from PIL import Image
    from torch.utils.tensorboard import SummaryWriter

    from letterlab.data.run_data import evaluation_data
    from letterlab.evaluation.figures import figure_to_array
    from letterlab.evaluation.trained import load_trained
    from letterlab.models.inputs import pick_device
    from letterlab.runs import METRICS, read_jsonl

    run_dir = Path(run_dir)
    config, model = load_trained(run_dir, pick_device(device))
    figures = {}
    if filters:
        figures[f"filters_layer{layer}"] = filters_figure(model, layer)
    if maps or saliency:
        data = evaluation_data(run_dir, data_path)
        wanted = [*maps, *saliency]
        bad = [i for i in wanted if not 0 <= i < len(data)]
        if bad:
            raise LetterlabError(f"image index {bad[0]}: {data.source} has test images 0..{len(data) - 1}")
        caption = lambda i: f"test image {i}: {data.classes[data.labels[i]]}"  # noqa: E731
        for i in maps:
            figures[f"maps_layer{layer}_image{i}"] = maps_figure(model, data.images[[i]], [caption(i)], layer)
        if saliency:
            name = "saliency_" + "_".join(map(str, saliency))
            figures[name] = saliency_figure(model, data.images[list(saliency)], [caption(i) for i in saliency], data.classes)
    folder = run_dir / FIGURES
    folder.mkdir(exist_ok=True)
    step = len(read_jsonl(run_dir / METRICS))
    written = []
    with SummaryWriter(log_dir=str(run_dir)) as writer:
        for name, figure in figures.items():
            pixels = figure_to_array(figure)
            Image.fromarray(pixels).save(folder / f"{name}.png")
            writer.add_image(f"inspect/{name}", pixels, step, dataformats="HWC")
            written.append(folder / f"{name}.png")
    return written
