"""The thumbnail cache: PNG files in ``<library directory>/thumbnails/``.

Keyed by content hash and size — ``thumbnails/<size>/<first two hex digits>/<hex>.png``
— so a thumbnail is made again only when the file's content changes, and files
with the same content share one. What the thumbnail is (embedded or rendered,
from what, problems met) travels inside the PNG as text chunks, so the cache
needs no table of its own. A file that could not be pictured leaves a small
``<hex>.err`` beside, so a scan does not retry it until its content changes.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import attrs
from PIL import Image

from .images import fit_square
from .picture import Thumbnail, ThumbnailError, encode_png

#: name of the cache folder inside the library directory
FOLDER = "thumbnails"
#: bumped when rendering changes enough that old pictures should be made again
FORMAT_VERSION = "1"

_HEX = re.compile(r"^[0-9a-f]{16,128}$")


@attrs.frozen
class Entry:
    """A cached thumbnail: where it is and what it shows."""

    path: Path
    source: str
    width: int
    height: int
    detail: str = ""
    problems: tuple[str, ...] = ()


def _digest(content_hash: str) -> str:
    hexpart = content_hash.split(":", 1)[-1].lower()
    if not _HEX.match(hexpart):
        raise ThumbnailError(f"not a content hash: {content_hash[:80]!r}")
    return hexpart


class ThumbnailCache:
    """The cache of one library.

    :param library_dir: the library directory (the cache is its ``thumbnails/`` folder).
    """

    def __init__(self, library_dir: str | os.PathLike[str]):
        self.root = Path(library_dir) / FOLDER

    def path_for(self, content_hash: str, size: int) -> Path:
        """Where the PNG for this content and size lives (whether or not it exists)."""
        hexpart = _digest(content_hash)
        return self.root / str(int(size)) / hexpart[:2] / f"{hexpart}.png"

    def get(self, content_hash: str, size: int) -> Entry | None:
        """The cached thumbnail, or None if there is none (or it is unreadable or stale)."""
        path = self.path_for(content_hash, size)
        try:
            with Image.open(path, formats=["PNG"]) as im:
                text = dict(getattr(im, "text", {}) or {})
                width, height = im.size
        except (OSError, SyntaxError, ValueError):
            return None
        if text.get("printmanager-version") != FORMAT_VERSION or text.get("printmanager-source") not in (
            "embedded", "rendered"
        ):
            return None
        try:
            problems = tuple(json.loads(text.get("printmanager-problems", "[]")))
        except ValueError:
            problems = ()
        return Entry(path, text["printmanager-source"], width, height, text.get("printmanager-detail", ""),
                     problems)

    def put(self, content_hash: str, size: int, thumb: Thumbnail) -> Entry:
        """Store a thumbnail (fitted to ``size``×``size``) and return its entry.

        Written to a temporary file and renamed, so readers never see half a PNG.
        """
        path = self.path_for(content_hash, size)
        image = thumb.to_image()
        if image.size != (size, size):
            image = fit_square(image, size)
        png = encode_png(image, {
            "printmanager-version": FORMAT_VERSION,
            "printmanager-source": thumb.source,
            "printmanager-detail": thumb.detail,
            "printmanager-problems": json.dumps(list(thumb.problems)),
        })
        path.parent.mkdir(parents=True, exist_ok=True)
        import tempfile  # (and shutil, bz2, lzma): only a cache write needs it

        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".png")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(png)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.error_path(content_hash, size).unlink(missing_ok=True)
        return Entry(path, thumb.source, image.width, image.height, thumb.detail, tuple(thumb.problems))

    def error_path(self, content_hash: str, size: int) -> Path:
        """Where the reason a thumbnail could not be made is kept."""
        return self.path_for(content_hash, size).with_suffix(".err")

    def failure(self, content_hash: str, size: int) -> str | None:
        """Why this content could not be pictured last time, or None."""
        try:
            return self.error_path(content_hash, size).read_text(encoding="utf-8")
        except OSError:
            return None

    def put_failure(self, content_hash: str, size: int, message: str) -> None:
        """Remember that this content cannot be pictured (until it changes)."""
        path = self.error_path(content_hash, size)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(message, encoding="utf-8")

    def digests(self) -> set[str]:
        """The content digests (lower-case hex) the cache holds a thumbnail or a failure of."""
        if not self.root.is_dir():
            return set()
        return {path.stem for path in self.root.glob("*/*/*")
                if path.suffix in (".png", ".err") and not path.name.startswith(".tmp-")}

    def prune(self, keep: set[str]) -> int:
        """Delete cached files whose content hash is not in ``keep``; returns how many."""
        keep_hex = {h.split(":", 1)[-1].lower() for h in keep if h}
        removed = 0
        if not self.root.is_dir():
            return 0
        for path in self.root.glob("*/*/*"):
            if path.suffix not in (".png", ".err") or path.name.startswith(".tmp-"):
                continue
            if path.stem not in keep_hex:
                path.unlink(missing_ok=True)
                removed += 1
        return removed
