"""Scanning the comment lines of a text G-code stream, in bounded memory.

A G-code file can be hundreds of megabytes, nearly all of it moves. The scanner
never reads it whole: it reads the first :data:`HEAD_BYTES` (longer while still
inside the leading comment block, e.g. large thumbnails, up to
:data:`HEAD_MAX_BYTES`) and the last :data:`TAIL_BYTES`, and looks only at
comment lines there. Thumbnails (``; thumbnail begin WxH LEN`` ... ``; thumbnail
end``, also ``thumbnail_JPG`` / ``thumbnail_QOI``) are counted when they lie in
what was read, which is where every slicer puts them.

Used by the text G-code reader and, for each plate's G-code, by the
``.gcode.3mf`` reader (the binary G-code reader shares its problem and
thumbnail bounds); what the comments mean is :mod:`.slicer_vocab`'s.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import IO

import attrs

from .base import EmbeddedImage
from .images import image_problem
from .slicer_vocab import MAX_KEYS, setting, slicer_name, unquote

__all__ = [
    "CHUNK_BYTES",
    "HEAD_BYTES",
    "HEAD_MAX_BYTES",
    "MAX_LINE_BYTES",
    "MAX_PROBLEMS",
    "MAX_THUMBNAILS",
    "TAIL_BYTES",
    "THUMBNAIL_MAX_CHARS",
    "GcodeScan",
    "add_problem",
    "comment_pairs",
    "scan_gcode",
    "skip_forward",
]

#: at least this much of the start of a file is read
HEAD_BYTES = 512 * 1024
#: the start is read further while still in its leading comments, up to this much
HEAD_MAX_BYTES = 16 * 1024 * 1024
#: this much of the end of a file is read
TAIL_BYTES = 512 * 1024
#: a thumbnail's base64 text longer than this is skipped (a problem is noted)
THUMBNAIL_MAX_CHARS = 16 * 1024 * 1024
#: a line longer than this is not a comment we care about
MAX_LINE_BYTES = 1024 * 1024
#: read in chunks of this size
CHUNK_BYTES = 64 * 1024
#: at most this many thumbnails are taken from one file
MAX_THUMBNAILS = 64
#: at most this many problems are listed for one file
MAX_PROBLEMS = 20

_THUMB_BEGIN = re.compile(
    r"^thumbnail(?:_(png|jpg|jpeg|qoi))?\s+begin\s+(\d{1,5})\s*x\s*(\d{1,5})\s+(\d{1,12})\s*$", re.I
)
_THUMB_END = re.compile(r"^thumbnail(?:_[a-z]+)?\s+end\s*$", re.I)


def comment_pairs(text: str) -> list[tuple[str, str]]:
    """Key/value pairs in one comment's text (without the leading ``;``).

    ``key = value`` (PrusaSlicer family), ``KEY:value`` (Cura, Orca's header; Orca
    puts two on a line separated by ``; ``) and ``key,value`` (Simplify3D).
    """
    eq = text.find("=")
    colon = text.find(":")
    if eq > 0 and (colon < 0 or eq < colon):
        pair = setting(text)
        return [] if pair is None else [pair]
    if colon > 0:
        pairs = []
        for part in text.split("; "):
            key, sep, value = part.partition(":")
            if sep and key.strip():
                pairs.append((key.strip().lower(), unquote(value)))
        return pairs
    comma = text.find(",")
    if comma > 0 and " " not in text[:comma]:
        return [(text[:comma].strip().lower(), text[comma + 1 :].strip())]
    return []


def add_problem(problems: list[str], text: str) -> None:
    """Note a problem, listing at most :data:`MAX_PROBLEMS` of them."""
    if len(problems) < MAX_PROBLEMS:
        problems.append(text)
    elif len(problems) == MAX_PROBLEMS:
        problems.append("more problems not listed")


@attrs.define
class _OpenThumbnail:
    index: int
    fmt: str
    width: int
    height: int
    declared: int
    parts: list[bytes] = attrs.field(factory=list)
    chars: int = 0
    too_big: bool = False


@attrs.define
class GcodeScan:
    """What the comment lines of a G-code file said (filled by :func:`scan_gcode`)."""

    want_images: bool = False
    kv: dict[str, str] = attrs.field(factory=dict)
    generator: str | None = None
    images: list[EmbeddedImage] = attrs.field(factory=list)
    thumbnails: int = 0
    problems: list[str] = attrs.field(factory=list)
    seen_command: bool = False
    comment_lines: int = 0
    bytes_read: int = 0
    _thumb: _OpenThumbnail | None = None
    _thumb_count: int = 0
    _over_limit: bool = False

    @property
    def in_preamble(self) -> bool:
        """Still in the leading comments (or inside a thumbnail)."""
        return self._thumb is not None or not self.seen_command

    def feed(self, line: bytes) -> None:
        """Take one line (without its newline)."""
        stripped = line.strip()
        if not stripped:
            return
        if not stripped.startswith(b";"):
            self.seen_command = True
            if self._thumb is not None:
                self._close_thumbnail("is interrupted by G-code before its end line")
            return
        text = stripped[1:].strip()
        if self._thumb is not None:
            if text[:9].lower() == b"thumbnail" and _THUMB_END.match(text.decode("ascii", "replace")):
                self._close_thumbnail(None)
            else:
                self._add_thumbnail_text(text)
            return
        self.comment_lines += 1
        comment = text.decode("utf-8", "replace")
        if comment[:9].lower() == "thumbnail":
            m = _THUMB_BEGIN.match(comment)
            if m:
                self._thumb_count += 1
                fmt = (m.group(1) or "png").lower()
                self._thumb = _OpenThumbnail(
                    self._thumb_count, "jpg" if fmt == "jpeg" else fmt,
                    int(m.group(2)), int(m.group(3)), int(m.group(4)),
                )
                return
        if self.generator is None and self.comment_lines <= 200:
            name = slicer_name(comment)
            if name:
                self.generator = name
                return
        for key, value in comment_pairs(comment):
            if len(self.kv) < MAX_KEYS or key in self.kv:
                self.kv[key] = value

    def finish(self, why: str) -> None:
        """End of what is read; a thumbnail still open is a problem."""
        if self._thumb is not None:
            self._close_thumbnail(why)

    def _label(self, t: _OpenThumbnail) -> str:
        return f"thumbnail {t.index} ({t.width}x{t.height} {t.fmt.upper()})"

    def _add_thumbnail_text(self, text: bytes) -> None:
        t = self._thumb
        assert t is not None
        if t.too_big:
            return
        t.chars += len(text)
        if t.chars > THUMBNAIL_MAX_CHARS:
            t.too_big = True
            t.parts.clear()
            return
        t.parts.append(text)

    def _close_thumbnail(self, failure: str | None) -> None:
        t = self._thumb
        assert t is not None
        self._thumb = None
        label = self._label(t)
        if self.thumbnails >= MAX_THUMBNAILS:
            if not self._over_limit:
                self._over_limit = True
                add_problem(self.problems, f"more than {MAX_THUMBNAILS} thumbnails; the rest are ignored")
            return
        if failure is not None:
            add_problem(self.problems, f"{label} {failure}; skipped")
            return
        if t.too_big:
            add_problem(self.problems, f"{label} is larger than {THUMBNAIL_MAX_CHARS} base64 characters; skipped")
            return
        if t.chars != t.declared:
            add_problem(self.problems, f"{label} declares {t.declared} base64 characters but has {t.chars}; skipped")
            return
        try:
            data = base64.b64decode(b"".join(t.parts), validate=True)
        except (binascii.Error, ValueError):
            add_problem(self.problems, f"{label} is not valid base64; skipped")
            return
        problem = image_problem(data, t.fmt)
        if problem:
            add_problem(self.problems, f"{label}: {problem}; skipped")
            return
        self.thumbnails += 1
        if self.want_images:
            self.images.append(
                EmbeddedImage(width=t.width, height=t.height, format=t.fmt, data=data,
                              name=f"thumbnail-{t.width}x{t.height}.{t.fmt}")
            )


def _feed_lines(scan: GcodeScan, pending: bytes, chunk: bytes) -> bytes:
    """Feed the complete lines of ``pending + chunk``; return the unfinished rest."""
    data = pending + chunk if pending else chunk
    end = data.rfind(b"\n")  # the complete lines are data[:end + 1]
    rest = data[end + 1 :]
    feed = scan.feed
    pos = 0
    while pos <= end:
        if scan._thumb is None and scan.seen_command:
            # past the leading comments and outside a thumbnail a G-code line changes
            # nothing: go straight to the next line that has a ';'
            semi = data.find(b";", pos, end)
            if semi < 0:
                break
            line_start = data.rfind(b"\n", pos, semi) + 1
            if line_start > pos:
                pos = line_start
        nl = data.find(b"\n", pos, end + 1)
        feed(data[pos:nl])
        pos = nl + 1
    if len(rest) > MAX_LINE_BYTES:
        # no comment is this long: treat it as G-code and drop it
        scan.seen_command = True
        rest = b""
    return rest


def skip_forward(fh: IO[bytes], count: int) -> None:
    """Move ``count`` bytes forward (seek when possible)."""
    if count <= 0:
        return
    if fh.seekable():
        fh.seek(count, 1)
        return
    while count > 0:
        got = fh.read(min(count, 1024 * 1024))
        if not got:
            return
        count -= len(got)


def scan_gcode(fh: IO[bytes], size: int, *, want_images: bool = False) -> GcodeScan:
    """Read the head and the tail of a text G-code stream and collect its comments.

    Reads at least :data:`HEAD_BYTES` from the start — longer while still in the
    leading comments or inside a thumbnail, up to :data:`HEAD_MAX_BYTES` — and the
    last :data:`TAIL_BYTES`. Memory stays bounded whatever the file size.

    :param size: the stream's size in bytes (as the source says).
    :param want_images: keep the decoded thumbnails in ``scan.images``.
    """
    scan = GcodeScan(want_images=want_images)
    pending = b""
    consumed = 0
    eof = False
    while True:
        chunk = fh.read(CHUNK_BYTES)
        if not chunk:
            eof = True
            break
        consumed += len(chunk)
        pending = _feed_lines(scan, pending, chunk)
        if consumed >= HEAD_BYTES and not scan.in_preamble:
            break
        if consumed >= HEAD_MAX_BYTES:
            if scan._thumb is not None:
                scan.finish(f"does not end within the first {HEAD_MAX_BYTES} bytes")
            break
    if not eof:
        start = max(consumed, size - TAIL_BYTES)
        mid_line = start > consumed
        if mid_line:
            scan.finish("does not end before the part of the file that is not read")
            skip_forward(fh, start - consumed)
            pending = b""
        read = 0
        while read <= TAIL_BYTES + CHUNK_BYTES:
            chunk = fh.read(CHUNK_BYTES)
            if not chunk:
                eof = True
                break
            read += len(chunk)
            if mid_line:
                # the tail starts inside a line: drop up to the first newline
                newline = chunk.find(b"\n")
                if newline < 0:
                    continue
                chunk = chunk[newline + 1 :]
                mid_line = False
            pending = _feed_lines(scan, pending, chunk)
        consumed = start + read
    if pending and eof:
        scan.feed(pending)
    scan.finish("has no end line")
    scan.bytes_read = consumed
    return scan

