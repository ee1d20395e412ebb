"""What a thumbnailer returns, and the error for a file that cannot be pictured."""

from __future__ import annotations

import io
import struct
import zlib

import attrs
from PIL import Image

from printmanager_core.errors import PrintManagerError

#: the values of :attr:`Thumbnail.source`
SOURCES = ("embedded", "rendered")
#: zlib level of the PNGs written: level 1 encodes a 256 px thumbnail about 3x faster
#: than Pillow's default 6, for files about 5-20% larger (lossless either way)
PNG_COMPRESS_LEVEL = 1
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def encode_png(image: Image.Image, text: dict[str, str] | None = None) -> bytes:
    """``image`` as PNG bytes, with ``text`` as text chunks (as Pillow's ``PngInfo.add_text``).

    An 8-bit RGBA image (every thumbnail) is written here: rows unfiltered, zlib level
    :data:`PNG_COMPRESS_LEVEL`. Pillow tries every PNG row filter on every row, which
    takes about half the time of encoding a thumbnail, and on these pictures (flat
    shading, a transparent background) the filters do not even make the file smaller.
    Any other mode is written by Pillow.
    """
    if image.mode != "RGBA":
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        for key, value in (text or {}).items():
            info.add_text(key, value)
        buf = io.BytesIO()
        image.save(buf, format="PNG", optimize=False, compress_level=PNG_COMPRESS_LEVEL, pnginfo=info)
        return buf.getvalue()
    width, height = image.size
    raw = bytearray((width * 4 + 1) * height)  # each row: filter type 0, then its pixels
    rows = memoryview(raw)
    pixels = image.tobytes()
    stride = width * 4
    for y in range(height):
        rows[y * (stride + 1) + 1 : (y + 1) * (stride + 1)] = pixels[y * stride : (y + 1) * stride]
    parts = [_PNG_SIGNATURE, _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))]
    for key, value in (text or {}).items():
        try:
            parts.append(_chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1")))
        except UnicodeEncodeError:  # as Pillow does: international text goes in an iTXt chunk
            parts.append(_chunk(b"iTXt", key.encode("latin-1") + b"\0\0\0\0\0" + value.encode("utf-8")))
    parts.append(_chunk(b"IDAT", zlib.compress(bytes(raw), PNG_COMPRESS_LEVEL)))
    parts.append(_chunk(b"IEND", b""))
    return b"".join(parts)


class ThumbnailError(PrintManagerError):
    """No thumbnail can be made for a file; the message says why, in one line."""


def _check_source(instance: object, attribute: object, value: str) -> None:
    if value not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, not {value!r}")


@attrs.define
class Thumbnail:
    """A picture of one file, as returned by a ``make_thumbnail`` hook.

    :ivar image: PNG bytes or a Pillow image.
    :ivar source: ``"embedded"`` (a picture the file carries, or the file is a
        picture) or ``"rendered"`` (drawn from the file's geometry).
    :ivar width: width of the image in pixels.
    :ivar height: height of the image in pixels.
    :ivar detail: where it came from, for people (e.g. ``"Metadata/plate_1.png"``).
    :ivar problems: what went wrong on the way (e.g. a hostile embedded picture
        that was refused before the mesh was rendered instead).
    """

    image: bytes | Image.Image = attrs.field(repr=False)
    source: str = attrs.field(validator=_check_source)
    width: int
    height: int
    detail: str = ""
    problems: list[str] = attrs.field(factory=list)

    @classmethod
    def from_image(cls, image: Image.Image, source: str, detail: str = "",
                   problems: list[str] | None = None) -> "Thumbnail":
        """A thumbnail of a Pillow image (its size is read from the image)."""
        return cls(image=image, source=source, width=image.width, height=image.height, detail=detail,
                   problems=list(problems or []))

    def to_image(self) -> Image.Image:
        """The picture as an RGBA Pillow image."""
        if isinstance(self.image, Image.Image):
            return self.image if self.image.mode == "RGBA" else self.image.convert("RGBA")
        with Image.open(io.BytesIO(self.image), formats=["PNG"]) as im:
            im.load()
            return im.convert("RGBA")

    def to_png(self) -> bytes:
        """The picture as PNG bytes."""
        if isinstance(self.image, bytes):
            return self.image
        return encode_png(self.image)
