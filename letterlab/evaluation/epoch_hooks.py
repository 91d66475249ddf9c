"""Epoch-end TensorBoard hooks added to training from the evaluation layer (training never imports
this module; the caller passes these factories as `extra_hooks`)."""

from __future__ import annotations

import numpy as np

from letterlab import LETTERS
from letterlab.evaluation.metrics import accuracy, confusion_matrix, format_confusion
from letterlab.evaluation.mistakes import confused_pairs


def confusion_text(confusion: np.ndarray, classes=LETTERS) -> str:
    """Markdown for TensorBoard's text tab: the matrix as a table plus the top confused pairs."""
    pairs = "\n".join(f"- {p['true']} read as {p['predicted']}: {p['count']}"
                      for p in confused_pairs(confusion, top=5, classes=classes)) or "- none"
    table = "\n".join("    " + line for line in format_confusion(confusion, classes).splitlines())
    return f"accuracy {accuracy(confusion):.4f}\n\n{table}\n\nmost confused (true read as predicted):\n\n{pairs}"


# TensorBoard's image dashboard shows 10 images per tag (it samples the rest away), so a run draws
# about that many heat maps, the last epoch's always; drawing one every epoch cost 20-25 ms, a third
# of a small MLP's epoch (docs/performance.md).
CONFUSION_IMAGES = 10


def draws_image(epoch: int, epochs: int) -> bool:
    """Whether epoch `epoch` of `epochs` gets a heat-map image: every k-th counted back from the last."""
    return (epochs - epoch) % -(-epochs // CONFUSION_IMAGES) == 0


def confusion_per_epoch(context):
    """Hook factory: the validation confusion matrix each epoch as text (its numbers), and as a
    heat-map image on `CONFUSION_IMAGES` epochs of the run."""
    labels, classes, epochs = context.splits.val.labels, context.splits.classes, context.config.train.epochs

    def hook(state, result) -> None:
        if len(labels) == 0:  # trained without a validation part
            return
        confusion = confusion_matrix(labels, result.val_predictions, len(classes))
        if draws_image(result.epoch, epochs):
            from letterlab.evaluation.figures import confusion_image  # matplotlib: imported when first drawn

            add_rgb_image(context.writer, "val/confusion", confusion_image(confusion, f"validation, epoch {result.epoch}", classes), result.epoch)
        context.writer.add_text("val/confusion_table", confusion_text(confusion, classes), result.epoch)

    return hook


def add_rgb_image(writer, tag: str, pixels: np.ndarray, step: int) -> None:
    """`writer.add_image(tag, pixels, step, dataformats="HWC")` for RGB uint8 pixels, encoded at
    zlib level 1: 7 ms instead of TensorBoard's 15-17 for a heat map (it converts to float and back, then
    compresses at the default level), the file ~8% larger."""
    from tensorboard.compat.proto.summary_pb2 import Summary

    from letterlab.evaluation.figures import image_to_png

    height, width, _ = pixels.shape
    image = Summary.Image(height=height, width=width, colorspace=3, encoded_image_string=image_to_png(pixels, compress_level=1))
    writer.file_writer.add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), step)


DEFAULT_EPOCH_HOOKS = (confusion_per_epoch,)
