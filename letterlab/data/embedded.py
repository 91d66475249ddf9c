"""The embedded default data set: letters A-J rendered from fonts already on the machine, notMNIST style.

Glyphs are rendered large with Pillow from matplotlib's bundled fonts (and system fonts when present),
lightly augmented (rotation, shear, stroke weight, crop jitter), cropped to their bounding box and
stretched to 28x28, white on black, as notMNIST does. Results are cached as .npz per seed and font list.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from letterlab import IMAGE_SIZE, LETTERS, NUM_CLASSES
from letterlab.data.cache import cache_dir
from letterlab.data.dataset import LetterImages, LoadedData
from letterlab.errors import ConfigError, DataError

GENERATOR_VERSION = 1
RENDER_SIZE = 96  # font size in pixels for the large glyph that gets cropped and shrunk
FONT_SUFFIXES = (".ttf", ".otf")
# matplotlib ships fonts whose A-J are empty, boxes or math symbols; skip them by name.
SKIP_NAME_PARTS = ("cmex", "stixsiz", "stixnonuni", "lastresort", "display")
# Reference faces for the "do these look like letters" check (all bundled with matplotlib).
REFERENCE_FONTS = ("DejaVuSans.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Italic.ttf")
MIN_LETTERS_RECOGNISED = 5  # of 10, by nearest reference glyph


def _candidate_fonts() -> list[Path]:
    """matplotlib's bundled fonts, then system fonts; one file per name, symbol fonts left out."""
    import matplotlib
    from matplotlib import font_manager

    bundled = sorted((Path(matplotlib.get_data_path()) / "fonts" / "ttf").glob("*"))
    system = sorted(Path(p) for p in font_manager.findSystemFonts())
    seen, fonts = set(), []
    for path in bundled + system:
        name = path.name.lower()
        if path.suffix.lower() not in FONT_SUFFIXES or name in seen:
            continue
        if any(part in name for part in SKIP_NAME_PARTS):
            continue
        seen.add(name)
        fonts.append(path)
    return fonts


def _render(font: ImageFont.FreeTypeFont, letter: str, stroke: int = 0) -> Image.Image:
    """The glyph white on black, with a margin of a quarter of its size on every side (room to rotate)."""
    left, top, right, bottom = font.getbbox(letter, stroke_width=stroke)
    pad = max(right - left, bottom - top) // 4 + 2
    image = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), 0)
    ImageDraw.Draw(image).text((pad - left, pad - top), letter, font=font, fill=255,
                               stroke_width=stroke, stroke_fill=255)
    return image


def _thumbnails(path: Path) -> np.ndarray | None:
    """A (10, 256) array of 16x16 cropped glyphs A-J, or None when the font cannot render them all."""
    try:
        font = ImageFont.truetype(str(path), 48)
        glyphs = []
        for letter in LETTERS:
            image = _render(font, letter)
            box = image.getbbox()
            if box is None or box[2] - box[0] < 2 or box[3] - box[1] < 4:
                return None
            glyphs.append(np.asarray(image.crop(box).resize((16, 16), Image.BILINEAR), np.float32).ravel())
    except (OSError, ValueError):
        return None
    return np.stack(glyphs)


def _normalise(rows: np.ndarray) -> np.ndarray:
    rows = rows - rows.mean(axis=1, keepdims=True)
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-6)


def _looks_like_letters(glyphs: np.ndarray, reference: np.ndarray) -> bool:
    """Distinct glyphs, at least half of them nearest to the same letter in some reference face."""
    unit = _normalise(glyphs)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -1)
    if similarity.max() > 0.97:  # the same shape (a box, a symbol) for different letters
        return False
    nearest = (unit @ reference.T).argmax(axis=1) % NUM_CLASSES
    return int((nearest == np.arange(NUM_CLASSES)).sum()) >= MIN_LETTERS_RECOGNISED


@lru_cache(maxsize=4)
def _usable_fonts(candidates: tuple[Path, ...]) -> tuple[Path, ...]:
    thumbs = {path: _thumbnails(path) for path in candidates}
    references = [thumbs.get(p) for p in candidates if p.name in REFERENCE_FONTS]
    references = [r for r in references if r is not None]
    if not references:
        return tuple(p for p in candidates if thumbs[p] is not None)
    reference = _normalise(np.concatenate(references))
    return tuple(p for p in candidates if thumbs[p] is not None and _looks_like_letters(thumbs[p], reference))


def available_fonts() -> list[Path]:
    """The font files the embedded set is rendered from: those that load and draw real letters A-J."""
    return list(_usable_fonts(tuple(_candidate_fonts())))


def _warp(glyph: Image.Image, angle_deg: float, shear: float) -> Image.Image:
    """Rotate and shear about the image centre (same canvas; the margin leaves room)."""
    theta = np.deg2rad(angle_deg)
    rotate = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    forward = rotate @ np.array([[1.0, shear], [0.0, 1.0]])
    inverse = np.linalg.inv(forward)
    centre = np.array(glyph.size, dtype=float) / 2
    offset = centre - inverse @ centre
    data = (inverse[0, 0], inverse[0, 1], offset[0], inverse[1, 0], inverse[1, 1], offset[1])
    return glyph.transform(glyph.size, Image.AFFINE, data, resample=Image.BILINEAR)


def _crop_to_frame(image: Image.Image, rng: np.random.Generator) -> np.ndarray | None:
    """Crop to the glyph's bounding box (each side jittered a little) and stretch to 28x28."""
    ink = np.asarray(image) > 32
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if len(rows) < 2 or len(cols) < 1:
        return None
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    height, width = bottom - top, right - left
    inward = rng.uniform(-0.01, 0.04, size=4)  # > 0 cuts into the glyph, < 0 leaves a sliver of border
    box = (left + inward[0] * width, top + inward[1] * height, right - inward[2] * width, bottom - inward[3] * height)
    small = image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.LANCZOS, box=box)
    return np.asarray(small, dtype=np.uint8)


def _generate(fonts: list[Path], seed: int, per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """per_class augmented images of each letter, fonts used in turn, shuffled; deterministic for seed."""
    rng = np.random.default_rng(seed)
    faces = [ImageFont.truetype(str(path), RENDER_SIZE) for path in fonts]
    bases: dict[tuple[int, int, int], Image.Image] = {}

    def base(font_index: int, label: int, weight: int) -> Image.Image:
        key = (font_index, label, weight)
        if key not in bases:
            glyph = _render(faces[font_index], LETTERS[label], stroke=max(weight, 0))
            if weight < 0:  # thinner strokes, unless that erases most of a light font
                thinner = glyph.filter(ImageFilter.MinFilter(3))
                if np.count_nonzero(np.asarray(thinner) > 128) > 0.5 * np.count_nonzero(np.asarray(glyph) > 128):
                    glyph = thinner
            bases[key] = glyph
        return bases[key]

    images = np.empty((NUM_CLASSES * per_class, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    labels = np.repeat(np.arange(NUM_CLASSES, dtype=np.int64), per_class)
    for label in range(NUM_CLASSES):
        font_order = rng.permutation(np.arange(per_class) % len(fonts))
        for k, font_index in enumerate(font_order):
            weight = int(rng.integers(-1, 4))
            angle, shear = rng.uniform(-8, 8), rng.uniform(-0.15, 0.15)
            crop = _crop_to_frame(_warp(base(int(font_index), label, weight), angle, shear), rng)
            if crop is None:  # should not happen with checked fonts; fall back to the plain glyph
                crop = _crop_to_frame(base(int(font_index), label, 0), rng)
            images[label * per_class + k] = crop
    order = rng.permutation(len(labels))
    return images[order], labels[order]


def _cache_key(fonts: list[Path], seed: int, per_class: int) -> str:
    font_ids = [[str(path), path.stat().st_size] for path in fonts]
    blob = json.dumps({"version": GENERATOR_VERSION, "seed": seed, "per_class": per_class, "fonts": font_ids})
    digest = hashlib.sha256(blob.encode()).hexdigest()[:16]
    return f"embedded-v{GENERATOR_VERSION}-seed{seed}-n{per_class}-{digest}"


def _read_cache(path: Path) -> tuple[np.ndarray, np.ndarray, int] | None:
    try:
        with np.load(path, allow_pickle=False) as stored:
            return stored["images"], stored["labels"], len(stored["fonts"])
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None  # absent or damaged: generate again


def _write_cache(path: Path, images: np.ndarray, labels: np.ndarray, fonts: list[Path]) -> None:
    """Write atomically (temp file + rename); a cache that cannot be written is not an error."""
    temp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.stem, suffix=".tmp", delete=False) as out:
            temp = out.name
            np.savez(out, images=images, labels=labels, fonts=np.array([p.name for p in fonts]))
        os.replace(temp, path)
    except OSError:
        if temp is not None and os.path.exists(temp):
            os.unlink(temp)


def load_embedded(seed: int = 0, per_class: int = 600) -> LoadedData:
    """The embedded default set: per_class rendered images of each letter A-J (train part only)."""
    if isinstance(per_class, bool) or not isinstance(per_class, (int, np.integer)) or per_class < 1:
        raise ConfigError(f"per_class must be a positive integer, got {per_class!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ConfigError(f"seed must be an integer, got {seed!r}")
    seed, per_class = int(seed), int(per_class)
    fonts = available_fonts()
    if not fonts:
        raise DataError("embedded default", "no usable fonts found (matplotlib's bundled fonts are missing)")
    path = cache_dir() / (_cache_key(fonts, seed, per_class) + ".npz")
    cached = _read_cache(path)
    if cached is not None:
        images, labels, font_count = cached
    else:
        images, labels = _generate(fonts, seed, per_class)
        font_count = len(fonts)
        _write_cache(path, images, labels, fonts)
    source = f"embedded default ({font_count} fonts, seed {seed})"
    return LoadedData(train=LetterImages(images, labels, source))
