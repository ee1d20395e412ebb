"""What a thumbnailer returns, and the error for a file that cannot be pictured."""

from __future__ import annotations

import io

import attrs
from PIL import Image

from printmanager_core.errors import PrintManagerError

#: the values of :attr:`Thumbnail.source`
SOURCES = ("embedded", "rendered")
#: zlib level of the PNGs written: level 1 encodes a 256 px thumbnail about 3x faster
#: than Pillow's default 6, for files about 5-20% larger (lossless either way)
PNG_COMPRESS_LEVEL = 1


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
        buf = io.BytesIO()
        self.image.save(buf, format="PNG", optimize=False, compress_level=PNG_COMPRESS_LEVEL)
        return buf.getvalue()
