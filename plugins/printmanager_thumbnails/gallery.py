"""Contact sheets: a static gallery of a query's files, as one HTML page or one PNG.

    from printmanager_thumbnails.gallery import write_gallery

    sheet = write_gallery(lib, "format:stl tag:boats", Path("boats.html"))
    print(sheet.path, sheet.files, sheet.pictured)

The files are those of :meth:`Library.files` for the query (the same parser and
results as ``printmanager ls``). Each gets a tile: its thumbnail (from the
cache, made when missing), its name and its key figures (format, size,
triangles, bounding box; printer, print time and filament of a sliced file). A
file that cannot be pictured gets a grey tile with the reason, so nothing is
hidden.

- ``.html``: one self-contained page, every picture inlined as a ``data:`` URI
  (it stays whole when moved, mailed or opened offline); no script, no link
  outside it.
- ``.png``: one picture, a grid of ``columns`` tiles of :data:`TILE` pixels
  (plus a :data:`LABEL`-pixel caption) per row, drawn with Pillow.
"""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
from PIL import Image, ImageDraw, ImageFont

from printmanager_core.errors import PrintManagerError
from printmanager_core.paths import printable

from .picture import ThumbnailError

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library
    from printmanager_core.records import FileRecord

__all__ = ["FORMATS", "GalleryError", "GallerySheet", "Tile", "collect", "write_gallery"]

#: what a sheet can be written as (by the output's extension)
FORMATS = {".html": "html", ".htm": "html", ".png": "png"}
#: edge of a picture on the PNG sheet, pixels
TILE = 160
#: height of the caption under each picture on the PNG sheet, pixels
LABEL = 30
#: tiles per row of the PNG sheet unless asked otherwise
DEFAULT_COLUMNS = 6
_BACKGROUND = (246, 246, 246)
_TILE_BACKGROUND = (226, 229, 234)


class GalleryError(PrintManagerError):
    """A gallery cannot be made: no file matches, or the output cannot be written."""


@attrs.frozen
class Tile:
    """One file on a sheet: its picture (PNG bytes) or why it has none, and its figures."""

    file: "FileRecord"
    png: bytes | None
    source: str | None  # "embedded" | "rendered" | None
    reason: str | None
    figures: tuple[str, ...]


@attrs.frozen
class GallerySheet:
    """What :func:`write_gallery` wrote.

    :ivar path: the file written (absolute).
    :ivar format: ``"html"`` or ``"png"``.
    :ivar query: the query.
    :ivar files: how many files are on the sheet.
    :ivar pictured: how many of them have a picture.
    :ivar width: pixel width of a PNG sheet (None for HTML).
    :ivar height: pixel height of a PNG sheet (None for HTML).
    :ivar bytes: size of the file written.
    """

    path: Path
    format: str
    query: str
    files: int
    pictured: int
    width: int | None
    height: int | None
    bytes: int

    def as_json(self) -> dict[str, Any]:
        """The JSON shape of ``printmanager gallery --json``."""
        data = attrs.asdict(self)
        data["path"] = str(self.path)
        return data


def sheet_format(output: Path) -> str:
    """``"html"`` or ``"png"`` from the output's extension.

    :raises GalleryError: any other extension.
    """
    fmt = FORMATS.get(output.suffix.lower())
    if fmt is None:
        raise GalleryError(f"cannot write a gallery as {printable(output.name)!r}: "
                           f"the name must end in .html or .png")
    return fmt


def _figures(f: "FileRecord") -> tuple[str, ...]:
    out = [f.format or "?"]
    if f.size_bytes is not None:
        out.append(_human_bytes(f.size_bytes))
    if f.triangles is not None:
        out.append(f"{f.triangles:,} tri")
    if f.bbox_mm:
        out.append("x".join(f"{v:.0f}" for v in f.bbox_mm) + " mm")
    slicer = f.slicer or {}
    if slicer.get("printer_model"):
        out.append(str(slicer["printer_model"]))
    if slicer.get("print_time_s"):
        seconds = int(slicer["print_time_s"])
        out.append(f"{seconds // 3600}h{seconds % 3600 // 60:02d}m")
    if slicer.get("filament_g"):
        out.append(f"{slicer['filament_g']:.1f} g")
    return tuple(printable(x) for x in out)


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"  # pragma: no cover


def collect(library: "Library", query: str, size: int | None = None) -> list[Tile]:
    """A tile for every file of ``query`` (as ``ls``), thumbnails made when missing.

    :raises GalleryError: no file matches.
    """
    from .api import make_thumbnails, thumbnail

    files = library.files(query)
    if not files:
        raise GalleryError(f"no file matches {query!r}" if query.strip() else "the library has no files")
    make_thumbnails(library, [f for f in files if not f.error], size)  # the missing ones, in parallel
    tiles = []
    for f in files:
        png = source = reason = None
        if f.error:
            reason = f.error
        else:
            try:
                thumb = thumbnail(library, f, size)
                png = thumb.path.read_bytes()
                source = thumb.source
            except ThumbnailError as exc:
                reason = str(exc)
            except OSError as exc:  # the cache file vanished meanwhile
                reason = f"thumbnail not readable: {exc.strerror or exc}"
        tiles.append(Tile(file=f, png=png, source=source, reason=reason, figures=_figures(f)))
    return tiles


def write_gallery(
    library: "Library", query: str, output: Path, *, size: int | None = None, columns: int = DEFAULT_COLUMNS
) -> GallerySheet:
    """Write a contact sheet of ``query``'s files to ``output`` (``.html`` or ``.png``).

    :param size: thumbnail edge in pixels for the HTML page (default: the
        library's ``thumbnails.size``); the PNG sheet's tiles are :data:`TILE`.
    :param columns: tiles per row of the PNG sheet (the HTML page flows).
    :raises GalleryError: unknown extension, no file matches, output not writable.
    """
    fmt = sheet_format(output)
    if columns < 1:
        raise GalleryError("a gallery needs at least one column")
    tiles = collect(library, query, size)
    width = height = None
    if fmt == "html":
        data = render_html(tiles, title=f"printmanager: {query}" if query.strip() else "printmanager")
    else:
        image = render_png(tiles, columns)
        width, height = image.size
        buf = io.BytesIO()
        image.save(buf, format="PNG", optimize=True)
        data = buf.getvalue()
    _write(output, data)
    return GallerySheet(path=output.resolve(), format=fmt, query=query, files=len(tiles),
                        pictured=sum(1 for t in tiles if t.png is not None), width=width, height=height,
                        bytes=len(data))


def _write(output: Path, data: bytes) -> None:
    """Write whole or not at all (a temporary file beside it, then renamed)."""
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    where = next((p for p in output.parents if p.exists()), None)
    if where is not None and not where.is_dir():
        raise GalleryError(f"cannot write {printable(str(output))}: {printable(str(where))} is not a folder")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        os.replace(tmp, output)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise GalleryError(f"cannot write {printable(str(output))}: {exc.strerror or exc}") from None


# --- HTML ----------------------------------------------------------------------

_STYLE = """
body { font: 14px/1.35 system-ui, sans-serif; margin: 24px; background: #f6f6f6; color: #222; }
h1 { font-size: 18px; font-weight: 600; margin: 0 0 16px; }
.sheet { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 14px; }
figure { margin: 0; background: #fff; border-radius: 6px; overflow: hidden; box-shadow: 0 1px 3px #0002; }
figure img, figure .none { display: block; width: 100%; aspect-ratio: 1; object-fit: contain; background: #e2e5ea; }
figure .none { display: flex; align-items: center; justify-content: center; padding: 12px;
               box-sizing: border-box; color: #844; font-size: 12px; text-align: center; }
figcaption { padding: 8px 10px; }
figcaption .name { font-weight: 600; overflow-wrap: anywhere; }
figcaption .figures { color: #666; font-size: 12px; }
figcaption .tags { color: #2a5fa8; font-size: 12px; }
"""


def render_html(tiles: list[Tile], title: str) -> bytes:
    """One self-contained HTML page (UTF-8): pictures inlined as ``data:`` URIs."""
    esc = html.escape
    parts = [
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>{esc(printable(title))}</title>",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{esc(printable(title))} &middot; {len(tiles)} file{'s' if len(tiles) != 1 else ''}</h1>",
        "<main class=\"sheet\">",
    ]
    for t in tiles:
        f = t.file
        name = esc(printable(f.name))
        where = esc(printable(f.model or os.path.basename(os.path.dirname(f.path))))
        if t.png is not None:
            uri = "data:image/png;base64," + base64.b64encode(t.png).decode("ascii")
            picture = f"<img src=\"{uri}\" alt=\"{name}\" title=\"{esc(t.source or '')}\">"
        else:
            picture = f"<div class=\"none\">{esc(printable(t.reason or 'no picture'))}</div>"
        tags = f"<div class=\"tags\">#{esc(' #'.join(printable(x) for x in f.tags))}</div>" if f.tags else ""
        parts.append(
            f"<figure data-file-id=\"{f.id}\">{picture}<figcaption>"
            f"<div class=\"name\">{name}</div><div class=\"figures\">{where}</div>"
            f"<div class=\"figures\">{esc(' · '.join(t.figures))}</div>{tags}</figcaption></figure>"
        )
    parts.append("</main></body></html>\n")
    return "\n".join(parts).encode("utf-8")


# --- PNG -----------------------------------------------------------------------


def _fit_text(draw: ImageDraw.ImageDraw, text: str, font: Any, width: int) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: Any, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and draw.textlength(line + " " + word, font=font) > width:
            lines.append(line)
            line = word
        else:
            line = (line + " " + word).strip()
    lines.append(line)
    return [_fit_text(draw, x, font, width) for x in lines]


def render_png(tiles: list[Tile], columns: int = DEFAULT_COLUMNS) -> Image.Image:
    """The sheet as one RGB picture: ``min(columns, len(tiles))`` tiles of :data:`TILE`
    pixels per row, each with a :data:`LABEL`-pixel caption (name, figures)."""
    font = ImageFont.load_default(size=11)
    cols = min(columns, len(tiles))
    rows = (len(tiles) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * TILE, rows * (TILE + LABEL)), _BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for i, t in enumerate(tiles):
        x, y = (i % cols) * TILE, (i // cols) * (TILE + LABEL)
        sheet.paste(Image.new("RGB", (TILE, TILE), _TILE_BACKGROUND), (x, y))
        if t.png is not None:
            with Image.open(io.BytesIO(t.png)) as im:
                pic = im.convert("RGBA")
                pic.thumbnail((TILE - 8, TILE - 8), Image.Resampling.LANCZOS)
            sheet.paste(pic, (x + (TILE - pic.width) // 2, y + (TILE - pic.height) // 2), pic)
        else:
            for k, text in enumerate(_wrap(draw, printable(t.reason or "no picture"), font, TILE - 12)[:9]):
                draw.text((x + 6, y + 8 + 13 * k), text, fill=(120, 60, 60), font=font)
        draw.text((x + 4, y + TILE + 2), _fit_text(draw, printable(t.file.name), font, TILE - 8),
                  fill=(20, 20, 20), font=font)
        draw.text((x + 4, y + TILE + 15), _fit_text(draw, " · ".join(t.figures), font, TILE - 8),
                  fill=(120, 120, 120), font=font)
    return sheet
