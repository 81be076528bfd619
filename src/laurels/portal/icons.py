"""Uploaded icons: checked with Pillow and re-encoded as PNG, and the greyed look of a
locked achievement.

An upload is refused (IconRefused, with a sentence a person can act on) unless it is
really a PNG or JPEG image, at most 1 MiB, square, 64 to 1024 pixels a side. What is
stored is a fresh PNG of its pixels: no metadata (EXIF, text, colour profile) of the
uploaded file survives.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

# Pillow is imported by the first upload or greyed icon, not by every worker.

MAX_BYTES = 1024 * 1024
MIN_SIDE, MAX_SIDE = 64, 1024
FORMATS = {"PNG", "JPEG"}
LIMITS = (
    f"PNG or JPEG, at most 1 MiB, square, {MIN_SIDE} to {MAX_SIDE} pixels a side "
    "(stored as PNG, without the file's metadata)"
)


class IconRefused(ValueError):
    """Why an uploaded file cannot be an icon."""


def _opened(data: bytes) -> Image.Image:
    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_BYTES:
        raise IconRefused(f"the file is {len(data):,} bytes; an icon is at most 1 MiB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=sorted(FORMATS))
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise IconRefused(
            f"the image is far too large; an icon is square, {MIN_SIDE} to {MAX_SIDE} pixels a side"
        ) from None
    except (UnidentifiedImageError, OSError):
        raise IconRefused("the file is not a PNG or JPEG image") from None
    return image


def _check_size(image: Image.Image) -> None:
    width, height = image.size
    if width != height or not MIN_SIDE <= width <= MAX_SIDE:
        raise IconRefused(
            f"the image is {width}×{height} pixels; an icon is square, "
            f"{MIN_SIDE} to {MAX_SIDE} pixels a side"
        )


def reencode(data: bytes) -> bytes:
    """The uploaded PNG or JPEG as a new PNG of its pixels only (RGBA). Raises
    IconRefused when it is not one, too large, or not a square of 64..1024 pixels;
    the size is checked before the pixels are decoded."""
    from PIL import Image, ImageOps

    image = _opened(data)
    _check_size(image)
    try:
        image.load()
        pixels = ImageOps.exif_transpose(image).convert("RGBA")
    except (OSError, ValueError, SyntaxError):
        raise IconRefused("the image is damaged and cannot be read") from None
    clean = Image.frombytes("RGBA", pixels.size, pixels.tobytes())
    out = io.BytesIO()
    clean.save(out, format="PNG", optimize=True)
    return out.getvalue()


def greyed(png: bytes) -> bytes:
    """A stored icon as a locked achievement shows it: grey and faded."""
    from PIL import Image, ImageOps

    image = Image.open(io.BytesIO(png)).convert("RGBA")
    grey = ImageOps.grayscale(image).convert("RGBA")
    alpha = image.getchannel("A").point(lambda a: a * 45 // 100)
    grey.putalpha(alpha)
    out = io.BytesIO()
    grey.save(out, format="PNG")
    return out.getvalue()


def sha256_of(png: bytes) -> str:
    return hashlib.sha256(png).hexdigest()
