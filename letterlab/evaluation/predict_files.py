"""`letterlab predict`: image files in, letters with probabilities out."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from letterlab import IMAGE_SIZE, LETTERS
from letterlab.errors import DataError
from letterlab.evaluation.trained import load_trained, probabilities
from letterlab.models.inputs import pick_device


def read_letter_image(path: str | Path, invert: bool = False) -> np.ndarray:
    """Any PNG/JPEG -> uint8 (28, 28) grayscale, white letter on black when `invert` fixes the polarity."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image).convert("L").resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)
    except FileNotFoundError:
        raise DataError(path, "no such file") from None
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise DataError(path, f"not a readable image ({error})") from None
    pixels = np.asarray(image, dtype=np.uint8)
    return 255 - pixels if invert else pixels


def predict_files(run_dir: Path, paths: list[str], top_k: int = 3, invert: bool = False, device_name: str = "auto") -> list[dict]:
    device = pick_device(device_name)
    config, model = load_trained(run_dir, device)
    images = np.stack([read_letter_image(p, invert) for p in paths])
    probs = probabilities(model, images, device, config.train.precision)
    k = max(1, min(top_k, len(LETTERS)))
    rows = []
    for path, row in zip(paths, probs):
        best = np.argsort(-row)[:k]
        rows.append({"image": str(path), "letter": LETTERS[best[0]],
                     "top": [{"letter": LETTERS[i], "probability": float(row[i])} for i in best]})
    return rows
