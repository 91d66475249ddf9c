"""Figures shared by the API, TensorBoard, the CLI and reports: matplotlib `Figure` objects made
without pyplot (so any backend works and nothing global changes: no `matplotlib.use`, no figure
kept alive by pyplot), and Pillow for the confusion heat map logged every epoch."""

from __future__ import annotations

import functools
import io
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from letterlab import LETTERS


class LetterlabFigure(Figure):
    """A matplotlib Figure that a notebook shows inline as the value of a cell, whatever the
    backend, and whether or not pyplot was ever imported (`_repr_png_`)."""

    def _repr_png_(self) -> bytes:
        return figure_to_png(self)


def new_figure(**kwargs) -> LetterlabFigure:
    """A figure outside pyplot's state (`figsize`, `dpi`, ... as for Figure); use `.subplots()` on it."""
    return LetterlabFigure(**kwargs)


def confusion_figure(confusion: np.ndarray, title: str = "", classes=LETTERS) -> LetterlabFigure:
    """Confusion matrix counts[true, predicted] as a heat map with every count written in; axes by class name."""
    confusion = np.asarray(confusion)
    side = max(5.0, 0.32 * len(confusion))  # inches: about a third of an inch a class past ten classes
    figure = new_figure(figsize=(side + 0.6, side), dpi=100)
    axis = figure.subplots()
    axis.imshow(confusion, cmap="Blues", vmin=0, vmax=max(int(confusion.max()), 1))
    ticks = range(len(confusion))
    axis.set_xticks(ticks, [classes[i] for i in ticks], rotation=90 if max(map(len, classes)) > 2 else 0)
    axis.set_yticks(ticks, [classes[i] for i in ticks])
    for i in ticks:
        for j in ticks:
            axis.text(j, i, str(confusion[i, j]), ha="center", va="center", fontsize=8 if len(confusion) <= 12 else 6,
                      color="white" if confusion[i, j] > confusion.max() / 2 else "black")
    axis.set(xlabel="predicted class", ylabel="true class", title=title)
    figure.tight_layout()
    return figure


def confusion_image(confusion: np.ndarray, title: str = "", classes=LETTERS) -> np.ndarray:
    """Heat map of counts[true, predicted] with the class names on both axes (shortened to fit a cell)
    and each count written in, as RGB uint8 (H, W, 3). Drawn with Pillow, not matplotlib (100 text
    artists are far slower there), each text rendered once and then stamped (`_stamp`): training
    draws one on about ten epochs of a run (docs/performance.md)."""
    from PIL import Image

    confusion = np.asarray(confusion)
    cell = 34 if len(classes) <= 12 else 24  # pixels a class
    left, top = max(58, 8 * max(map(len, classes)) + 24), 52 if title else 30
    size = len(classes) * cell
    colours = (matplotlib.colormaps["Blues"](confusion / max(confusion.max(), 1))[..., :3] * 255).astype(np.uint8)
    cells = colours.repeat(cell, axis=0).repeat(cell, axis=1)  # each count as a cell x cell block
    canvas = Image.new("RGB", (left + size + 12, top + size + 40), "white")
    canvas.paste(Image.fromarray(cells), (left, top))

    def text(xy, words, size, fill="black", anchor="mm"):
        stamp, dx, dy = _stamp(words, size, fill, anchor)
        canvas.paste(stamp, (round(xy[0]) + dx, round(xy[1]) + dy), stamp)

    if title:
        text((left + size / 2, 14), title, 14)
    dark = confusion > confusion.max() / 2
    for i, name in enumerate(classes):
        middle = i * cell + cell / 2
        text((left + middle, top - 10), name[:cell // 9], 14)  # predicted
        text((left - 8, top + middle), name, 14, anchor="rm")  # true
        for j in range(len(classes)):
            text((left + j * cell + cell / 2, top + middle), str(confusion[i, j]), 11, "white" if dark[i, j] else "black")
    text((left + size / 2, top + size + 20), "predicted (columns); true (rows)", 11)
    return np.asarray(canvas)


@functools.lru_cache(maxsize=4096)
def _stamp(words: str, size: int, fill: str, anchor: str):
    """`words` in DejaVu Sans at `size` in `fill`, drawn once on a transparent image, and the offset
    from the anchor point to its top left corner."""
    from PIL import Image, ImageColor, ImageDraw

    font = _font(size)
    x0, y0, x1, y1 = font.getbbox(words, anchor=anchor)
    stamp = Image.new("RGBA", (max(x1 - x0, 1), max(y1 - y0, 1)), ImageColor.getrgb(fill) + (0,))
    ImageDraw.Draw(stamp).text((-x0, -y0), words, fill=fill, font=font, anchor=anchor)
    return stamp, x0, y0


@functools.cache
def _font(size: int):
    from PIL import ImageFont

    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"), size)


def image_to_png(pixels: np.ndarray, compress_level: int = 6) -> bytes:
    """PNG bytes of uint8 pixels; zlib `compress_level` 1 encodes a heat map in 7 ms instead of 10 (~8% larger)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def figure_to_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return buffer.getvalue()


def figure_to_array(figure: Figure) -> np.ndarray:
    """RGB uint8 (H, W, 3), for TensorBoard's add_image with dataformats="HWC"."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
