"""Epoch-end TensorBoard hooks added to training from the evaluation layer (training never imports
this module; the caller passes these factories as `extra_hooks`)."""

from __future__ import annotations

import numpy as np

from letterlab.evaluation.figures import confusion_image
from letterlab.evaluation.metrics import accuracy, confusion_matrix, format_confusion
from letterlab.evaluation.mistakes import confused_pairs


def confusion_text(confusion: np.ndarray) -> str:
    """Markdown for TensorBoard's text tab: the matrix as a table plus the top confused pairs."""
    pairs = "\n".join(f"- {p['true']} read as {p['predicted']}: {p['count']}" for p in confused_pairs(confusion, top=5)) or "- none"
    table = "\n".join("    " + line for line in format_confusion(confusion).splitlines())
    return f"accuracy {accuracy(confusion):.4f}\n\n{table}\n\nmost confused (true read as predicted):\n\n{pairs}"


def confusion_per_epoch(context):
    """Hook factory: the validation confusion matrix each epoch, as a heat-map image and as text."""
    labels = context.splits.val.labels

    def hook(state, result) -> None:
        if len(labels) == 0:  # trained without a validation part
            return
        confusion = confusion_matrix(labels, result.val_predictions)
        image = confusion_image(confusion, f"validation, epoch {result.epoch}")
        context.writer.add_image("val/confusion", image, result.epoch, dataformats="HWC")
        context.writer.add_text("val/confusion_table", confusion_text(confusion), result.epoch)

    return hook


DEFAULT_EPOCH_HOOKS = (confusion_per_epoch,)
