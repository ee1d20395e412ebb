"""Pictures embedded in files: which format the bytes are, and how large.

Slicers embed PNG, JPEG and QOI pictures (G-code thumbnail blocks, binary
G-code thumbnail blocks, 3MF thumbnails and plate pictures). This is the one
place that knows their signatures and where their headers keep width and
height; the readers that find pictures use it, and it decodes nothing (the
thumbnails plugin does, under its own bounds).
"""

from __future__ import annotations

import struct

from .base import EmbeddedImage

__all__ = [
    "SIGNATURES",
    "embedded_image",
    "image_format",
    "image_problem",
    "jpeg_size",
    "png_size",
]

#: format name -> the byte strings a picture of that format starts with
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpg": (b"\xff\xd8\xff",),
    "qoi": (b"qoif",),
}


def image_format(data: bytes) -> str | None:
    """``"png"``, ``"jpg"`` or ``"qoi"`` by the signature ``data`` starts with, else None."""
    for fmt, signatures in SIGNATURES.items():
        if data.startswith(signatures):
            return fmt
    return None


def image_problem(data: bytes, fmt: str) -> str | None:
    """Why ``data`` is not an image of format ``fmt`` (by its signature), or None."""
    signatures = SIGNATURES.get(fmt)
    if signatures is None:
        return f"unknown image format {fmt!r}"
    if not data.startswith(signatures):
        return f"data is not a {fmt.upper()} image"
    return None


def png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's IHDR chunk, or None if it is not a PNG."""
    if len(data) < 24 or not data.startswith(SIGNATURES["png"]) or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def jpeg_size(data: bytes) -> tuple[int | None, int | None]:
    """Width and height from a JPEG's first start-of-frame marker; ``(None, None)`` if none is found."""
    pos = 2
    while pos + 9 < len(data):
        if data[pos] != 0xFF:
            return None, None
        marker = data[pos + 1]
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return int.from_bytes(data[pos + 7 : pos + 9], "big"), int.from_bytes(data[pos + 5 : pos + 7], "big")
        pos += 2 + length
    return None, None


def embedded_image(data: bytes, name: str) -> EmbeddedImage | None:
    """``data`` as a PNG or JPEG :class:`~.base.EmbeddedImage` with its size, or None if it is neither."""
    fmt = image_format(data)
    if fmt == "png":
        size = png_size(data)
        if size is None:
            return None
        return EmbeddedImage(width=size[0], height=size[1], format="png", data=data, name=name)
    if fmt == "jpg":
        width, height = jpeg_size(data)
        return EmbeddedImage(width=width, height=height, format="jpg", data=data, name=name)
    return None
