"""Epoch-end TensorBoard hooks added to training from the evaluation layer (training never imports
this module; the caller passes these factories as `extra_hooks`)."""

from __future__ import annotations

import numpy as np

from letterlab import LETTERS
from letterlab.evaluation.figures import confusion_image
from letterlab.evaluation.metrics import accuracy, confusion_matrix, format_confusion
from letterlab.evaluation.mistakes import confused_pairs


def confusion_text(confusion: np.ndarray, classes=LETTERS) -> str:
    """Markdown for TensorBoard's text tab: the matrix as a table plus the top confused pairs."""
    pairs = "\n".join(f"- {p['true']} read as {p['predicted']}: {p['count']}"
                      for p in confused_pairs(confusion, top=5, classes=classes)) or "- none"
    table = "\n".join("    " + line for line in format_confusion(confusion, classes).splitlines())
    return f"accuracy {accuracy(confusion):.4f}\n\n{table}\n\nmost confused (true read as predicted):\n\n{pairs}"


def confusion_per_epoch(context):
    """Hook factory: the validation confusion matrix each epoch, as a heat-map image and as text."""
    labels, classes = context.splits.val.labels, context.splits.classes

    def hook(state, result) -> None:
        if len(labels) == 0:  # trained without a validation part
            return
        confusion = confusion_matrix(labels, result.val_predictions, len(classes))
        image = confusion_image(confusion, f"validation, epoch {result.epoch}", classes)
        context.writer.add_image("val/confusion", image, result.epoch, dataformats="HWC")
        context.writer.add_text("val/confusion_table", confusion_text(confusion, classes), result.epoch)

    return hook


DEFAULT_EPOCH_HOOKS = (confusion_per_epoch,)
