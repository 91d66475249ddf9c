"""Figures shared by TensorBoard, the CLI and reports: confusion heat maps and curves (matplotlib,
headless Agg backend), returned as RGB arrays or PNG bytes."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import numpy as np
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from letterlab import LETTERS


def confusion_figure(confusion: np.ndarray, title: str = "") -> Figure:
    """Heat map of counts[true, predicted] with letters A-J on both axes and each count written in."""
    confusion = np.asarray(confusion)
    figure, axes = plt.subplots(figsize=(5.2, 4.6), dpi=100)
    axes.imshow(confusion, cmap="Blues")
    axes.set_xticks(range(len(LETTERS)), list(LETTERS))
    axes.set_yticks(range(len(LETTERS)), list(LETTERS))
    axes.set_xlabel("predicted letter")
    axes.set_ylabel("true letter")
    if title:
        axes.set_title(title)
    threshold = confusion.max() / 2 if confusion.size else 0
    for (row, column), count in np.ndenumerate(confusion):
        axes.text(column, row, str(count), ha="center", va="center", fontsize=7,
                  color="white" if count > threshold else "black")
    figure.tight_layout()
    return figure


def figure_to_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def figure_to_array(figure: Figure) -> np.ndarray:
    """RGB uint8 (H, W, 3), for TensorBoard's add_image with dataformats="HWC"."""
    figure.canvas.draw()
    rgb = np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()
    plt.close(figure)
    return rgb
