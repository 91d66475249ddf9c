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

            image = confusion_image(confusion, f"validation, epoch {result.epoch}", classes)
            context.writer.add_image("val/confusion", image, result.epoch, dataformats="HWC")
        context.writer.add_text("val/confusion_table", confusion_text(confusion, classes), result.epoch)

    return hook


DEFAULT_EPOCH_HOOKS = (confusion_per_epoch,)
