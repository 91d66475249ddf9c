"""The embedded default data set: letters A-J rendered from the fonts that ship with matplotlib, notMNIST style.

Glyphs are rendered large with Pillow from matplotlib's bundled fonts (mpl-data/fonts/ttf: the same files
wherever that matplotlib version is installed, so a seed gives the same images on every machine), lightly
augmented (rotation, shear, stroke weight, crop jitter), cropped to their bounding box and stretched to
28x28, white on black, as notMNIST does. Results are cached as .npz per seed, letters and font list.

Options, as a data source string (`--data embedded:OPTIONS`, comma-separated):
  letters=A-Z     the letters to render: a range (A-Z) or the letters themselves (AEIOU); default A-J
  system-fonts    also the machine's own fonts (more variety; differs from machine to machine)
e.g. `embedded:letters=A-Z,system-fonts`. "" and "embedded" are the default.
"""

from __future__ import annotations

import hashlib
import json
import os
import string
import tempfile
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from letterlab import IMAGE_SIZE, LETTERS
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
PREFIX = "embedded"
SYSTEM_FONTS = "system-fonts"


@dataclass(frozen=True)
class EmbeddedOptions:
    """What to render: `letters` (the classes, in order) and whether system fonts join matplotlib's."""

    letters: str = LETTERS
    system_fonts: bool = False


def is_embedded(source: str) -> bool:
    return source == PREFIX or source.startswith(PREFIX + ":")


def parse_embedded(source: str) -> EmbeddedOptions:
    """The options of an `embedded[:letters=A-Z][,system-fonts]` source; ConfigError naming a bad one."""
    letters, system_fonts = LETTERS, False
    options = source.removeprefix(PREFIX).removeprefix(":")
    for option in filter(None, (o.strip() for o in options.split(","))):
        if option == SYSTEM_FONTS:
            system_fonts = True
        elif option.startswith("letters="):
            letters = _letter_range(option.removeprefix("letters="), source)
        else:
            raise ConfigError(f"{source}: unknown embedded option {option!r} (known: letters=A-Z, {SYSTEM_FONTS})")
    return EmbeddedOptions(letters, system_fonts)


def _letter_range(text: str, source: str) -> str:
    """'A-Z' -> 'AB...Z'; 'AEIOU' as given; capital letters only, each once, two or more."""
    letters = text
    if len(text) == 3 and text[1] == "-" and text[0] <= text[2]:
        letters = string.ascii_uppercase[string.ascii_uppercase.find(text[0]):string.ascii_uppercase.find(text[2]) + 1]
    if len(letters) < 2 or any(c not in string.ascii_uppercase for c in text.replace("-", "")) or len(set(letters)) != len(letters):
        raise ConfigError(f"{source}: letters={text} must name two or more capital letters, as a range (A-Z) or in full (AEIOU)")
    return letters


def _candidate_fonts(system_fonts: bool = False) -> list[Path]:
    """matplotlib's bundled fonts, then (if asked) system fonts; one file per name, symbol fonts left out."""
    import matplotlib

    bundled = sorted((Path(matplotlib.get_data_path()) / "fonts" / "ttf").glob("*"))
    system = []
    if system_fonts:
        from matplotlib import font_manager

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


def _thumbnails(path: Path, letters: str) -> np.ndarray | None:
    """A (len(letters), 256) array of 16x16 cropped glyphs, or None when the font cannot render them all."""
    try:
        font = ImageFont.truetype(str(path), 48)
        glyphs = []
        for letter in letters:
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
    count = len(glyphs)
    unit = _normalise(glyphs)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -1)
    if similarity.max() > 0.97:  # the same shape (a box, a symbol) for different letters
        return False
    nearest = (unit @ reference.T).argmax(axis=1) % count
    return 2 * int((nearest == np.arange(count)).sum()) >= count


@lru_cache(maxsize=4)
def _usable_fonts(candidates: tuple[Path, ...], letters: str) -> tuple[Path, ...]:
    thumbs = {path: _thumbnails(path, letters) for path in candidates}
    references = [thumbs.get(p) for p in candidates if p.name in REFERENCE_FONTS]
    references = [r for r in references if r is not None]
    if not references:
        return tuple(p for p in candidates if thumbs[p] is not None)
    reference = _normalise(np.concatenate(references))
    return tuple(p for p in candidates if thumbs[p] is not None and _looks_like_letters(thumbs[p], reference))


def available_fonts(options: EmbeddedOptions = EmbeddedOptions()) -> list[Path]:
    """The font files the embedded set is rendered from: those that load and draw real letters (`options.letters`)."""
    return list(_usable_fonts(tuple(_candidate_fonts(options.system_fonts)), options.letters))


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


def _generate(fonts: list[Path], seed: int, per_class: int, letters: str = LETTERS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """per_class augmented images of each letter, fonts used in turn, shuffled; deterministic for seed."""
    rng = np.random.default_rng(seed)
    faces = [ImageFont.truetype(str(path), RENDER_SIZE) for path in fonts]
    bases: dict[tuple[int, int, int], Image.Image] = {}

    def base(font_index: int, label: int, weight: int) -> Image.Image:
        key = (font_index, label, weight)
        if key not in bases:
            glyph = _render(faces[font_index], letters[label], stroke=max(weight, 0))
            if weight < 0:  # thinner strokes, unless that erases most of a light font
                thinner = glyph.filter(ImageFilter.MinFilter(3))
                if np.count_nonzero(np.asarray(thinner) > 128) > 0.5 * np.count_nonzero(np.asarray(glyph) > 128):
                    glyph = thinner
            bases[key] = glyph
        return bases[key]

    images = np.empty((len(letters) * per_class, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    labels = np.repeat(np.arange(len(letters), dtype=np.int64), per_class)
    image_fonts = np.empty(len(labels), dtype=np.int64)  # index into `fonts` of each image's font
    for label in range(len(letters)):
        font_order = rng.permutation(np.arange(per_class) % len(fonts))
        for k, font_index in enumerate(font_order):
            weight = int(rng.integers(-1, 4))
            angle, shear = rng.uniform(-8, 8), rng.uniform(-0.15, 0.15)
            crop = _crop_to_frame(_warp(base(int(font_index), label, weight), angle, shear), rng)
            if crop is None:  # should not happen with checked fonts; fall back to the plain glyph
                crop = _crop_to_frame(base(int(font_index), label, 0), rng)
            images[label * per_class + k] = crop
            image_fonts[label * per_class + k] = font_index
    order = rng.permutation(len(labels))
    return images[order], labels[order], image_fonts[order]


def _cache_key(fonts: list[Path], seed: int, per_class: int, letters: str) -> str:
    font_ids = [[str(path), path.stat().st_size] for path in fonts]
    blob = json.dumps({"version": GENERATOR_VERSION, "seed": seed, "per_class": per_class, "fonts": font_ids, "letters": letters})
    digest = hashlib.sha256(blob.encode()).hexdigest()[:16]
    return f"embedded-v{GENERATOR_VERSION}-seed{seed}-n{per_class}-{digest}"


def _read_cache(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Images, labels and each image's font name; None for a cache from before fonts were recorded."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            return stored["images"], stored["labels"], stored["fonts"][stored["image_fonts"]]
    except (OSError, KeyError, ValueError, IndexError, zipfile.BadZipFile):
        return None  # absent, damaged or older: generate again


def _write_cache(path: Path, images: np.ndarray, labels: np.ndarray, image_fonts: np.ndarray, fonts: list[Path]) -> None:
    """Write atomically (temp file + rename); a cache that cannot be written is not an error."""
    temp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.stem, suffix=".tmp", delete=False) as out:
            temp = out.name
            np.savez(out, images=images, labels=labels, image_fonts=image_fonts, fonts=np.array([p.name for p in fonts]))
        os.replace(temp, path)
    except OSError:
        if temp is not None and os.path.exists(temp):
            os.unlink(temp)


def load_embedded(seed: int = 0, per_class: int = 600, options: EmbeddedOptions = EmbeddedOptions()) -> LoadedData:
    """The embedded set: per_class rendered images of each letter (A-J unless `options` say otherwise), from
    matplotlib's fonts (and the system's, if asked); train part only."""
    if isinstance(per_class, bool) or not isinstance(per_class, (int, np.integer)) or per_class < 1:
        raise ConfigError(f"per_class must be a positive integer, got {per_class!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ConfigError(f"seed must be an integer, got {seed!r}")
    seed, per_class = int(seed), int(per_class)
    fonts = available_fonts(options)
    if not fonts:
        raise DataError("embedded default", "no usable fonts found (matplotlib's bundled fonts are missing)")
    path = cache_dir() / (_cache_key(fonts, seed, per_class, options.letters) + ".npz")
    cached = _read_cache(path)
    if cached is not None:
        images, labels, image_fonts = cached
    else:
        images, labels, font_index = _generate(fonts, seed, per_class, options.letters)
        _write_cache(path, images, labels, font_index, fonts)
        image_fonts = np.array([p.name for p in fonts])[font_index]
    return LoadedData(train=LetterImages(images, labels, _source_name(options, len(fonts), seed),
                                         classes=tuple(options.letters), named=True,
                                         fonts=image_fonts, font_source="the font file each image was rendered from"))


def _source_name(options: EmbeddedOptions, font_count: int, seed: int) -> str:
    """e.g. "embedded default (17 fonts, seed 0)", "embedded letters A-Z (40 fonts, system fonts too, seed 0)"."""
    what = "default" if options.letters == LETTERS else f"letters {_letters_text(options.letters)}"
    system = ", system fonts too" if options.system_fonts else ""
    return f"embedded {what} ({font_count} fonts{system}, seed {seed})"


def _letters_text(letters: str) -> str:
    """'A-Z' for a run of consecutive letters, else the letters themselves."""
    consecutive = string.ascii_uppercase.find(letters) >= 0
    return f"{letters[0]}-{letters[-1]}" if consecutive else letters
