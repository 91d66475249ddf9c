"""A run's mistakes on a data set: which images, how confident, which letter pairs it confuses, which
fonts they come from (where the data names fonts), and grids of the misclassified images (most
confident first, and one per confused pair)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from letterlab import LETTERS
from letterlab.data.dataset import LetterImages
from letterlab.data.fonts import UNMATCHED
from letterlab.evaluation.metrics import confusion_matrix, per_class_scores
from letterlab.files import write_atomic, write_json_atomic

GRID_LIMIT = 100  # images per grid; the most confident errors come first
CELL = 84  # pixels per image in a grid (3x the 28x28 image)
FONT_ROWS = 10  # fonts listed by Mistakes.by_font, the most mistakes first
UNMATCHED_PREFIX = UNMATCHED.split("{")[0]  # the name an image gets when train.fonts_from did not find its font


@dataclass(frozen=True)
class Mistakes:
    """The misclassified images of `data`, most confident first. `index` points into `data`;
    `confidence` is the probability the model gave its (wrong) prediction."""

    data: LetterImages
    index: np.ndarray  # int64 (M,)
    predicted: np.ndarray  # int64 (M,)
    confidence: np.ndarray  # float (M,)

    def __len__(self) -> int:
        return len(self.index)

    @property
    def labels(self) -> np.ndarray:
        return self.data.labels[self.index]

    def rows(self) -> list[dict]:
        """One dict a mistake; with the image's font where the data names fonts."""
        names, fonts = self.data.classes, self.data.fonts
        rows = [{"index": int(i), "true": names[t], "predicted": names[p], "confidence": round(float(c), 4)}
                for i, t, p, c in zip(self.index, self.labels, self.predicted, self.confidence)]
        if fonts is not None:
            for row in rows:
                row["font"] = str(fonts[row["index"]])
        return rows

    def by_font(self, top: int = FONT_ROWS) -> dict | None:
        """How the mistakes spread over the fonts, for data that names its fonts (None otherwise): the
        fonts, how many have a mistake, the share of the mistakes in the tenth of the fonts with the
        most (at least one font), and the `top` fonts with the most mistakes (ties by name), each with
        its images and a readable name (notMNIST's base64 file stems decoded). Images whose font was
        not found (`train.fonts_from`) are counted apart, not as fonts."""
        fonts = self.data.fonts
        if fonts is None:
            return None
        matched = ~np.char.startswith(fonts, UNMATCHED_PREFIX)
        mistaken = np.zeros(len(fonts), bool)
        mistaken[self.index] = True
        names, font_of_image, images = np.unique(fonts[matched], return_inverse=True, return_counts=True)
        wrong = np.bincount(font_of_image[mistaken[matched]], minlength=len(names))
        order = np.lexsort((names, -wrong))  # the most mistakes first, ties by name
        tenth = max(1, len(names) // 10)
        total = int(wrong.sum())
        return {
            "named_by": self.data.font_source, "fonts": len(names), "with_mistakes": int(np.count_nonzero(wrong)),
            "mistakes": total, "worst_tenth": tenth,
            "worst_tenth_share": float(wrong[order[:tenth]].sum() / total) if total else 0.0,
            "unmatched_images": int((~matched).sum()), "unmatched_mistakes": int((mistaken & ~matched).sum()),
            "worst": [{"font": str(names[i]), "name": readable_font(str(names[i])), "mistakes": int(wrong[i]), "images": int(images[i])}
                      for i in order[:top] if wrong[i]],
        }

    def caption(self, k: int) -> str:
        """'true>predicted confidence' of mistake `k`."""
        names = self.data.classes
        return f"{names[self.labels[k]]}>{names[self.predicted[k]]} {self.confidence[k]:.2f}"


def find_mistakes(data: LetterImages, probs: np.ndarray) -> Mistakes:
    """Misclassified images of `data` given probabilities (N, classes), sorted by confidence (ties: index)."""
    predicted = probs.argmax(1)
    wrong = np.flatnonzero(predicted != data.labels)
    confidence = probs[wrong, predicted[wrong]]
    order = np.lexsort((wrong, -confidence))
    return Mistakes(data, wrong[order], predicted[wrong][order], confidence[order])


def confused_pairs(confusion: np.ndarray, top: int = 10, classes=LETTERS) -> list[dict]:
    """The `top` most frequent (true, predicted) mistakes of a confusion matrix, with their share of
    the true class's images; classes by name."""
    confusion = np.asarray(confusion)
    support = confusion.sum(1)
    off = confusion.copy()
    np.fill_diagonal(off, 0)
    flat = [(int(off[t, p]), t, p) for t in range(len(off)) for p in range(len(off)) if off[t, p]]
    flat.sort(key=lambda x: (-x[0], x[1], x[2]))
    return [{"true": classes[t], "predicted": classes[p], "count": n, "share": float(n / support[t])}
            for n, t, p in flat[:top]]


def readable_font(name: str) -> str:
    """A font's name to show: notMNIST's base64 file stem decoded (as notmnist_small.npz keeps them), else as it is."""
    from letterlab.data.folder import font_names

    decoded = font_names([name])
    return str(decoded[0]) if len(decoded) else name


def mistakes_figure(mistakes: Mistakes, limit: int = 40, columns: int = 10):
    """A matplotlib figure of the `limit` most confident mistakes: 'true > predicted confidence'."""
    from letterlab.evaluation.figures import new_figure

    shown = min(limit, len(mistakes.index))
    rows = max(1, -(-shown // columns))
    figure = new_figure(figsize=(1.1 * columns, 1.3 * rows + 0.4), dpi=100)
    axes = figure.subplots(rows, columns, squeeze=False)
    for k, axis in enumerate(axes.flat):
        axis.axis("off")
        if k < shown:
            axis.imshow(mistakes.data.images[mistakes.index[k]], cmap="gray", vmin=0, vmax=255)
            axis.set_title(mistakes.caption(k), fontsize=8)
    figure.suptitle(f"{len(mistakes.index)} of {len(mistakes.data)} images misclassified"
                    f"{f'; the {shown} most confident' if shown < len(mistakes.index) else ''} (true>predicted confidence)", fontsize=9)
    figure.tight_layout()
    return figure


def grid_image(images: np.ndarray, captions: list[str], columns: int = 10):
    """A Pillow image: each uint8 (28, 28) image enlarged to CELL pixels with its caption below."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=13)
    rows = max(1, -(-len(images) // columns))
    cell_h = CELL + 18
    sheet = Image.new("L", (columns * CELL, rows * cell_h), 255)
    draw = ImageDraw.Draw(sheet)
    for k, (image, caption) in enumerate(zip(images, captions)):
        x, y = (k % columns) * CELL, (k // columns) * cell_h
        sheet.paste(Image.fromarray(image).resize((CELL - 4, CELL - 4), Image.Resampling.NEAREST), (x + 2, y + 2))
        draw.text((x + 3, y + CELL), caption, fill=0, font=font)
    return sheet


def save_grid(mistakes: Mistakes, picked: np.ndarray, path: Path) -> Path:
    """Write the grid of mistakes at positions `picked` (into mistakes.index) as a PNG; caption 'true>predicted conf'."""
    picked = picked[:GRID_LIMIT]
    captions = [mistakes.caption(k) for k in picked]
    image = grid_image(mistakes.data.images[mistakes.index[picked]], captions, columns=min(10, max(1, len(picked))))
    write_atomic(path, lambda temp: image.save(temp, format="PNG"))
    return path


def write_error_report(mistakes: Mistakes, out_dir: Path, top_pairs: int = 5) -> dict:
    """errors.png (all mistakes, most confident first), errors-T-as-P.png for the `top_pairs` most
    confused pairs, and errors.json (mistakes, pairs, per-class scores, mistakes by font) in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data = mistakes.data
    all_predicted = data.labels.copy()
    all_predicted[mistakes.index] = mistakes.predicted
    confusion = confusion_matrix(data.labels, all_predicted, len(data.classes))
    pairs = confused_pairs(confusion, top=10, classes=data.classes)
    grids = []
    if len(mistakes.index):
        grids.append(str(save_grid(mistakes, np.arange(len(mistakes.index)), out_dir / "errors.png")))
    for pair in pairs[:top_pairs]:
        t, p = data.classes.index(pair["true"]), data.classes.index(pair["predicted"])
        picked = np.flatnonzero((mistakes.labels == t) & (mistakes.predicted == p))
        name = f"errors-{file_part(pair['true'])}-as-{file_part(pair['predicted'])}.png"
        grids.append(str(save_grid(mistakes, picked, out_dir / name)))
    report = {
        "source": data.source, "n": len(data), "mistakes": len(mistakes.index), "classes": list(data.classes),
        "pairs": pairs, "per_class": per_class_scores(confusion, data.classes), "by_font": mistakes.by_font(),
        "grids": grids, "errors": mistakes.rows(),
    }
    write_json_atomic(out_dir / "errors.json", report)
    return report


def file_part(name: str) -> str:
    """A class name as part of a file name: characters other than letters, digits, '-' and '_' become '_'."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def run_mistakes(run_dir: Path, data_path: str | None = None, device=None) -> Mistakes:
    """Load the trained run, predict every evaluation image and return its mistakes."""
    from letterlab.data.run_data import evaluation_data
    from letterlab.evaluation.trained import load_trained, probabilities
    from letterlab.models.inputs import pick_device

    device = pick_device(device)
    config, model = load_trained(run_dir, device)
    data = evaluation_data(run_dir, data_path)
    return find_mistakes(data, probabilities(model, data.images, device, config.train.precision))
