"""Features forming over time: a fixed panel of validation images (a few per letter, chosen once per
run and stored in RUN/probes.npz) whose first-layer maps, top-3 predictions and saliency go to
TensorBoard every epoch, with the first-layer filter grid. One small batch, no matplotlib."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from letterlab import LETTERS
from letterlab.evaluation.epoch_hooks import draws_image
from letterlab.evaluation.inspect import conv_layers, explain, feature_maps, layer_weights, tile
from letterlab.files import write_atomic
from letterlab.runs import PROBES

PER_CLASS = 2
SCALE = 3  # probe images and saliency drawn 3x (84x84 pixels)


def choose_probes(labels: np.ndarray, per_class: int = PER_CLASS, seed: int = 0) -> np.ndarray:
    """Sorted indices: `per_class` images of each class present (fewer when a class has fewer)."""
    rng = np.random.default_rng(seed)
    picked = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in range(int(labels.max(initial=-1)) + 1)]
    return np.sort(np.concatenate(picked))


def probe_panel(run_dir: Path, val_images: np.ndarray, val_labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of the run's probe panel: read from RUN/probes.npz, or chosen and saved there."""
    path = Path(run_dir) / PROBES
    if not path.exists():
        index = choose_probes(val_labels, seed=seed)

        def save(temp: Path) -> None:
            with open(temp, "wb") as handle:
                np.savez(handle, val_index=index, images=val_images[index], labels=val_labels[index])

        write_atomic(path, save)
    with np.load(path) as stored:
        return stored["images"], stored["labels"].astype(np.int64)


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Each pixel of an (H, W) or (H, W, channels) image as a factor x factor block (same dtype)."""
    return np.repeat(np.repeat(image, factor, 0), factor, 1)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """float in [0, 1] (or any range, scaled to its min..max when outside) -> uint8."""
    low, high = float(image.min()), float(image.max())
    if low < 0 or high > 1:
        image = (image - low) / (high - low) if high > low else np.zeros_like(image)
    return (image * 255).round().astype(np.uint8)


def prediction_panel(images: np.ndarray, labels: np.ndarray, probs: np.ndarray, saliency: np.ndarray, columns: int = 2,
                     classes=LETTERS) -> np.ndarray:
    """uint8 RGB (H, W, 3): per probe, the image, its saliency and bars for the top 3 classes
    (green: the true class), each named (the first 3 characters of a longer name)."""
    from PIL import Image, ImageDraw

    side = 28 * SCALE
    cell_w, cell_h = 2 * side + 150, side + 8
    rows = -(-len(images) // columns)
    canvas = Image.new("RGB", (columns * cell_w, rows * cell_h), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (image, label) in enumerate(zip(images, labels)):
        x, y = (i % columns) * cell_w, (i // columns) * cell_h + 4
        canvas.paste(Image.fromarray(to_uint8(upscale(image / 255.0, SCALE))), (x + 4, y))
        canvas.paste(Image.fromarray(to_uint8(upscale(saliency[i], SCALE))), (x + side + 8, y))
        for rank, c in enumerate(np.argsort(-probs[i])[:3]):
            top = y + 6 + rank * 26
            left = x + 2 * side + 14
            draw.rectangle([left + 18, top, left + 18 + int(100 * probs[i, c]), top + 14],
                           fill="green" if c == label else "grey")
            draw.text((left, top + 1), classes[c][:3], fill="black")
            draw.text((left + 22, top + 1), f"{probs[i, c]:.2f}", fill="white" if probs[i, c] > 0.35 else "black")
    return np.asarray(canvas)


def probes_per_epoch(context):
    """Hook factory: log the probe panel's maps, predictions and saliency, and the filter grid, on
    the epochs that get a confusion heat map (about ten a run, `epoch_hooks.draws_image`)."""
    from letterlab.models.inputs import images_to_tensor

    panel_source = context.splits.val if len(context.splits.val) else context.splits.train  # no validation part: training images
    images, labels = probe_panel(context.run_dir, panel_source.images, panel_source.labels, context.config.train.seed)
    x = images_to_tensor(images, context.device)

    def hook(state, result) -> None:
        if not draws_image(result.epoch, context.config.train.epochs):
            return
        model, writer, step = state.model, context.writer, result.epoch
        was_training = model.training
        model.eval()
        try:
            probs, saliency, _ = explain(model, x)
            writer.add_image("probes/predictions", prediction_panel(images, labels, probs, saliency, classes=context.splits.classes),
                             step, dataformats="HWC")
            weights, _ = layer_weights(model, 1)
            writer.add_image("probes/filters", to_uint8(upscale(tile(weights), 4 if conv_layers(model) else 1)), step, dataformats="HW")
            if conv_layers(model):
                maps = feature_maps(model, x, 1).float().cpu().numpy()  # (probes, C, h, w)
                grids = np.stack([tile(m) for m in maps])
                writer.add_image("probes/feature_maps", to_uint8(tile(grids, columns=max(5, round(len(grids) ** 0.5)), pad=4)), step, dataformats="HW")
        finally:
            model.train(was_training)

    return hook
