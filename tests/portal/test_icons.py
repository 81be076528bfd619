"""Uploaded icons: what is accepted, what is refused and why, and that what is stored
is a fresh PNG without the file's metadata."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, PngImagePlugin

from laurels.portal import icons


def encoded(kind: str, width: int, height: int | None = None, **options: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height or width), (10, 120, 200)).save(out, format=kind, **options)
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width`×`height` (its pixels are missing)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.mark.parametrize(("kind", "side"), [("PNG", 64), ("PNG", 1024), ("JPEG", 200)])
def test_png_and_jpeg_squares_are_reencoded_as_png(kind: str, side: int) -> None:
    png = icons.reencode(encoded(kind, side))
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.size == (side, side)


def test_metadata_does_not_survive() -> None:
    text = PngImagePlugin.PngInfo()
    text.add_text("Author", "secret studio person")
    exif = Image.Exif()
    exif[0x010E] = "GPS somewhere"  # ImageDescription
    for data in (
        encoded("PNG", 64, pnginfo=text),
        encoded("JPEG", 64, exif=exif.tobytes()),
    ):
        png = icons.reencode(data)
        assert b"secret studio person" not in png
        assert b"GPS somewhere" not in png
        assert Image.open(io.BytesIO(png)).info.keys() <= {"dpi"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"plain text, not an image", "the file is not a PNG or JPEG image"),
        (encoded("GIF", 64), "the file is not a PNG or JPEG image"),
        (encoded("BMP", 64), "the file is not a PNG or JPEG image"),
        (b"\x89PNG" + b"\0" * icons.MAX_BYTES, "an icon is at most 1 MiB"),
        (encoded("PNG", 63), "the image is 63×63 pixels; an icon is square, 64 to 1024"),
        (encoded("PNG", 1025), "the image is 1025×1025 pixels"),
        (encoded("JPEG", 100, 120), "the image is 100×120 pixels"),
        (png_claiming(60000, 60000), "the image is far too large; an icon is square"),
        (png_claiming(128, 128), "the image is damaged and cannot be read"),
    ],
    ids=["text", "gif", "bmp", "too big", "63px", "1025px", "not square", "bomb", "no pixels"],
)
def test_refusals_say_what_is_allowed(data: bytes, message: str) -> None:
    with pytest.raises(icons.IconRefused) as refused:
        icons.reencode(data)
    assert message in str(refused.value)


def test_the_locked_look_is_grey() -> None:
    grey = Image.open(io.BytesIO(icons.greyed(icons.reencode(encoded("PNG", 64))))).convert("RGBA")
    red, green, blue, alpha = grey.getpixel((5, 5))  # type: ignore[misc]
    assert red == green == blue
    assert alpha < 255
