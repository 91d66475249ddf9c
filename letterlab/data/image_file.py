"""One image (a PNG or JPEG file, or a PIL image; any size or colour) as the 28x28 grayscale a
model takes: the conversion `letterlab predict`, the API and the server share."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from letterlab import IMAGE_SIZE
from letterlab.errors import DataError

# Images with more pixels are refused before they are decoded: a phone photo has 12-50 million; a
# small file that claims far more (a "decompression bomb") would take gigabytes to decode.
MAX_PIXELS = 64_000_000


class ImageTooLarge(ValueError):
    """An image whose header claims more than MAX_PIXELS pixels."""


def letter_pixels(image, invert: bool = False) -> np.ndarray:
    """A PIL image -> uint8 (28, 28) grayscale (EXIF orientation applied, Lanczos resize);
    `invert` for a dark letter on a light background (letterlab's images are white on black)."""
    from PIL import Image, ImageOps

    if image.width * image.height > MAX_PIXELS:
        raise ImageTooLarge(f"{image.width}x{image.height} is more than the {MAX_PIXELS:,} pixels letterlab decodes "
                            "(a decompression bomb?)")
    image = ImageOps.exif_transpose(image).convert("L").resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)
    pixels = np.asarray(image, dtype=np.uint8)
    return 255 - pixels if invert else pixels


def read_letter_image(path: str | Path, invert: bool = False) -> np.ndarray:
    """`letter_pixels` of an image file; a DataError naming the file when it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return letter_pixels(image, invert)
    except FileNotFoundError:
        raise DataError(path, "no such file") from None
    except ImageTooLarge as error:
        raise DataError(path, str(error)) from None
    except Image.DecompressionBombError:
        raise DataError(path, f"more than the {MAX_PIXELS:,} pixels letterlab decodes (a decompression bomb?)") from None
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise DataError(path, f"not a readable image ({error})") from None
