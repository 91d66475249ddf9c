"""One image (a PNG or JPEG file, or a PIL image; any size or colour) as the 28x28 grayscale a
model takes: the conversion `letterlab predict`, the API and the server share."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from letterlab import IMAGE_SIZE
from letterlab.errors import DataError

# Images with more pixels are refused before they are decoded: a phone photo has 12-50 million; a
# small file that claims far more (a "decompression bomb") would take gigabytes to decode.
MAX_PIXELS = 64_000_000
# Raster formats read; others Pillow knows (EPS through Ghostscript, DDS, ...) are refused.
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "PPM")


class ImageTooLarge(ValueError):
    """An image whose header claims more than MAX_PIXELS pixels."""


def letter_pixels(image, invert: bool = False) -> np.ndarray:
    """A PIL image -> uint8 (28, 28) grayscale (EXIF orientation applied, Lanczos resize);
    `invert` for a dark letter on a light background (letterlab's images are white on black).
    16-bit images are scaled to 8 bits; transparent parts count as background (black, or white
    with `invert`)."""
    from PIL import Image, ImageOps

    if image.width * image.height > MAX_PIXELS:
        raise ImageTooLarge(f"{image.width}x{image.height} is more than the {MAX_PIXELS:,} pixels letterlab decodes "
                            "(a decompression bomb?)")
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):  # 16-bit (or float) grey: scale, do not clip
        values = np.asarray(image, dtype=np.float64)
        image = Image.fromarray(np.clip(values / 257 if values.max() > 255 else values, 0, 255).astype(np.uint8))
    elif image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255) if invert else (0, 0, 0, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    image = image.convert("L").resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)
    pixels = np.asarray(image, dtype=np.uint8)
    return 255 - pixels if invert else pixels


def decode_letter(source: str | Path | bytes, name: str | Path, invert: bool = False) -> np.ndarray:
    """`letter_pixels` of an image file or its bytes; a DataError naming `name` when it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source, formats=FORMATS) as image:
            return letter_pixels(image, invert)
    except FileNotFoundError:
        raise DataError(name, "no such file") from None
    except ImageTooLarge as error:
        raise DataError(name, str(error)) from None
    except Image.DecompressionBombError:
        raise DataError(name, f"more than the {MAX_PIXELS:,} pixels letterlab decodes (a decompression bomb?)") from None
    except UnidentifiedImageError:
        raise DataError(name, f"not an image ({', '.join(FORMATS)})") from None
    except Exception as error:  # a truncated or corrupt file: Pillow's decoders raise many kinds
        raise DataError(name, f"not a readable image ({type(error).__name__}: {error})") from None


def read_letter_image(path: str | Path, invert: bool = False) -> np.ndarray:
    """`letter_pixels` of an image file; a DataError naming the file when it cannot be read."""
    return decode_letter(path, path, invert)
