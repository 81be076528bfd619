"""Image files for the title configurations of the tests."""

from __future__ import annotations

import struct
import zlib


def png_bytes(seed: int = 0, *, size: int | None = None) -> bytes:
    """A valid 1x1 PNG whose pixel depends on `seed` (so different seeds give different
    files); with `size`, padded to exactly that many bytes with a private chunk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    pixel = bytes([0, seed % 256, (seed // 256) % 256, (seed // 65536) % 256])
    body = header + chunk(b"IDAT", zlib.compress(pixel))
    end = chunk(b"IEND", b"")
    png = b"\x89PNG\r\n\x1a\n" + body + end
    if size is not None:
        padding = size - len(png) - 12
        if padding < 0:
            raise ValueError(f"a PNG cannot be smaller than {len(png) + 12} bytes here")
        png = b"\x89PNG\r\n\x1a\n" + body + chunk(b"prVt", b"\0" * padding) + end
    return png
