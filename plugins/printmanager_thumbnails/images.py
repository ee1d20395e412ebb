"""Decoding pictures that came from files we do not trust, and fitting them to a square.

Embedded thumbnails are attacker-controlled input: a small PNG can declare a
60000×60000 canvas (a decompression bomb), a G-code comment can declare one size
and carry another, a block can hold something that is not an image at all. Every
picture goes through :func:`decode_image`, which reads only the header first,
refuses what is too large or does not match what the file declared, and only
then decodes the pixels. Its errors are one line, for the user.

PNG, JPEG and QOI are read by Pillow (QOI since Pillow 9.5; the ``thumbnails``
extra requires Pillow 10.1 or later).
"""

from __future__ import annotations

import io
import warnings
from typing import Iterable

import attrs
from PIL import Image, UnidentifiedImageError

from printmanager_core.readers.base import EmbeddedImage

from .picture import ThumbnailError

#: the largest picture decoded, in pixels (width × height): 16 megapixels
MAX_IMAGE_PIXELS = 4096 * 4096
#: the largest QOI picture decoded: Pillow decodes QOI in Python (about 0.7 s per
#: megapixel), so a huge one would be a cheap way to stall a scan
MAX_QOI_PIXELS = 1024 * 1024
#: the largest picture file read, in bytes
MAX_IMAGE_BYTES = 64 * 1024 * 1024

#: our format names → Pillow's
PIL_FORMATS = {
    "png": "PNG",
    "jpg": "JPEG",
    "jpeg": "JPEG",
    "qoi": "QOI",
    "webp": "WEBP",
    "gif": "GIF",
    "bmp": "BMP",
}
#: file extensions of pictures a library may hold, → our format name
IMAGE_EXTENSIONS = {
    ".png": "png",
    ".jpg": "jpg",
    ".jpeg": "jpg",
    ".qoi": "qoi",
    ".webp": "webp",
    ".gif": "gif",
    ".bmp": "bmp",
}


class ImageRejected(ThumbnailError):
    """A picture that is refused (hostile, broken or not what it claims to be)."""


def decode_image(
    data: bytes,
    fmt: str | None = None,
    *,
    declared: tuple[int | None, int | None] | None = None,
    max_pixels: int = MAX_IMAGE_PIXELS,
    hint_size: int | None = None,
) -> Image.Image:
    """Decode an untrusted picture into an RGBA image, or raise :class:`ImageRejected`.

    :param data: the encoded picture.
    :param fmt: ``"png"``, ``"jpg"``, ``"qoi"``… — only that decoder is tried;
        None tries every supported one.
    :param declared: the width and height the containing file claims (either may
        be None); a picture of another size is refused.
    :param max_pixels: refuse larger canvases before decoding them.
    :param hint_size: the thumbnail size wanted; lets JPEG decode at a reduced scale.
    """
    label = (fmt or "image").upper()
    if not data:
        raise ImageRejected(f"the {label} picture is empty")
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageRejected(f"the {label} picture is {len(data)} bytes, more than the {MAX_IMAGE_BYTES}-byte limit")
    if fmt is not None and fmt.lower() not in PIL_FORMATS:
        raise ImageRejected(f"unknown picture format {fmt!r}")
    formats = [PIL_FORMATS[fmt.lower()]] if fmt else sorted(set(PIL_FORMATS.values()))
    with warnings.catch_warnings():
        # Pillow warns (and beyond twice its limit, raises) on huge canvases: both are refusals here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data), formats=formats)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRejected(f"the {label} picture is a decompression bomb ({_first_line(exc)})") from None
        except UnidentifiedImageError:
            raise ImageRejected(f"the data is not a {label} picture") from None
        except Exception as exc:  # noqa: BLE001 - Pillow raises many types for bad headers
            raise ImageRejected(f"the {label} picture cannot be read: {_first_line(exc)}") from None
        close = True
        try:
            width, height = im.size
            if width < 1 or height < 1:
                raise ImageRejected(f"the {label} picture is {width}x{height}")
            limit = min(max_pixels, MAX_QOI_PIXELS) if im.format == "QOI" else max_pixels
            if width * height > limit:
                raise ImageRejected(
                    f"the {label} picture is {width}x{height}, more than the {limit}-pixel limit "
                    "(decompression bomb?)"
                )
            if declared is not None:
                dw, dh = declared
                if (dw is not None and dw != width) or (dh is not None and dh != height):
                    raise ImageRejected(
                        f"the {label} picture is {width}x{height} but is declared as "
                        f"{dw if dw is not None else '?'}x{dh if dh is not None else '?'}"
                    )
            if hint_size and im.format == "JPEG":
                im.draft("RGB", (hint_size, hint_size))
            im.load()
            if im.mode == "RGBA":  # decoded from bytes in memory: nothing to close, no copy needed
                close = False
                return im
            return im.convert("RGBA")
        except ImageRejected:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRejected(f"the {label} picture is a decompression bomb ({_first_line(exc)})") from None
        except Exception as exc:  # noqa: BLE001 - truncated or corrupt pixel data
            raise ImageRejected(f"the {label} picture is damaged: {_first_line(exc)}") from None
        finally:
            if close:
                im.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


#: ``reducing_gap`` of the Lanczos fit of a picture with transparency: a box reduction by an
#: integer factor first, then Lanczos over at least twice the final size (what
#: ``Image.thumbnail`` does); about a third less time than 3. Pillow's box reduction does not
#: weight colours by alpha, so a smaller gap would bleed the colour of transparent pixels.
REDUCING_GAP = 2.0
#: ``reducing_gap`` of the fit of an opaque picture: Lanczos over at least 1.5 times the final
#: size, which for a 4:1 fit reduces 2×2 first instead of 2×1 (1025×827 → 256 px: 4.1 instead
#: of 6.3 ms). Against Pillow's fair resize (no reduction) it is as close as 2.0 is: 49–62 dB
#: PSNR on rendered meshes and the corpus' 3MF picture, where 2.0 gives 50–55 dB when it
#: reduces at all (``tests/test_thumbnails_render.py`` holds it to 45 dB)
OPAQUE_REDUCING_GAP = 1.5


def fit_square(image: Image.Image, size: int) -> Image.Image:
    """Scale ``image`` to fit a ``size``×``size`` square (aspect kept), centred on transparency."""
    img = image if image.mode == "RGBA" else image.convert("RGBA")
    w, h = img.size
    scale = size / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    if (nw, nh) != (w, h):
        if img.getchannel("A").getextrema() == (255, 255):
            # opaque (most slicer pictures are): resized as RGB, the same pixels without Pillow's
            # two premultiplying passes over RGBA (about a third of the time)
            img = img.convert("RGB").resize(
                (nw, nh), Image.Resampling.LANCZOS, reducing_gap=OPAQUE_REDUCING_GAP
            ).convert("RGBA")
        else:
            img = img.resize((nw, nh), Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
    if (nw, nh) == (size, size):
        return img
    canvas = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    canvas.paste(img, ((size - nw) // 2, (size - nh) // 2))
    return canvas


@attrs.frozen
class Picked:
    """The embedded picture chosen, decoded, and what was refused on the way."""

    image: Image.Image
    embedded: EmbeddedImage
    problems: list[str]


def _area(img: EmbeddedImage) -> int:
    return (img.width or 0) * (img.height or 0)


def pick_largest(images: Iterable[EmbeddedImage], hint_size: int | None = None) -> tuple[Picked | None, list[str]]:
    """Decode the largest usable picture of ``images``.

    Pictures are tried largest first (by declared size, then by data length); a
    refused one is noted in the problems and the next is tried.

    :returns: the pick (None if every picture was refused) and the problems.
    """
    problems: list[str] = []
    ordered = sorted(images, key=lambda i: (_area(i), len(i.data)), reverse=True)
    for emb in ordered:
        try:
            image = decode_image(emb.data, emb.format, declared=(emb.width, emb.height), hint_size=hint_size)
        except ImageRejected as exc:
            problems.append(f"{emb.name or 'embedded picture'}: {exc}")
            continue
        return Picked(image=image, embedded=emb, problems=problems), problems
    return None, problems
