"""What a format reader is, what it gets and what it returns.

A reader is any object with ``name``, ``extensions`` and ``read(source)``;
plugins register readers through the ``register_readers`` hook. Which reader
reads a file is the reader table's choice (:mod:`.table`), never another
reader's. A reader raises :class:`ReadError` with a clear, one-line message for
input it cannot read; any other exception is caught by the scan and recorded as
an error too, but a ``ReadError`` message is what the user sees.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import IO, Any, Callable, Protocol, runtime_checkable

import attrs


class ReadError(Exception):
    """The file cannot be read; the message says why, in one line."""


class NotThisFormat(ReadError):
    """The reader declines the file: it is not the format the name suggests.

    Raise it (with a one-line reason) for content the reader does not recognise
    at all — a ``.stp`` that is not ISO 10303-21, a ``.gltf`` that is not JSON —
    rather than for a file of its format that is broken (that is a
    :class:`ReadError`). The scan then catalogues the file as a plain file:
    format from its extension, hash, size, and no error. A host that does not
    know this class sees a ``ReadError``.
    """


def one_line(text: str, width: int = 500) -> str:
    """The first line of ``text``, at most ``width`` characters (errors are one line)."""
    line = text.strip().split("\n", 1)[0].strip()
    return line if len(line) <= width else line[: width - 3] + "..."


@attrs.frozen
class Limits:
    """Bounds that keep hostile input from exhausting memory or time."""

    #: refuse meshes claiming more triangles than this
    max_triangles: int = 50_000_000
    #: refuse a single file (or archive member) larger than this when it must be read whole
    max_read_bytes: int = 2 * 1024**3
    #: refuse archive members whose uncompressed size exceeds this
    max_member_bytes: int = 1024**3
    #: refuse archive members whose compression ratio exceeds this (zip bombs)
    max_compression_ratio: float = 250.0
    #: refuse archives with more members than this
    max_members: int = 10_000
    #: above this many triangles watertightness is not computed (reported unknown);
    #: None (the default): computed for every mesh
    watertight_max_triangles: int | None = None
    #: time budget for reading one file (and for drawing its thumbnail), seconds; None: none
    max_seconds_per_file: float | None = 120.0
    #: a scan's worker process still on one file this long past ``max_seconds_per_file``
    #: (stuck in C code, where the budget cannot reach) is killed by the scanning process
    #: and the file gets the budget's error (see printmanager_core.watchdog)
    watchdog_grace_seconds: float = 10.0
    #: memory bound for reading one file in a worker process (see printmanager_core.budget); None: none
    max_memory_bytes: int | None = 4 * 1024**3
    #: refuse XML parts with a single tag, attribute value or text run longer than this
    max_xml_token_bytes: int = 16 * 1024**2


DEFAULT_LIMITS = Limits()


@attrs.define
class Source:
    """One file to read: on disk, or a member of an archive.

    :ivar name: the file name (last path component), used for format detection.
    :ivar size: size in bytes (uncompressed for archive members).
    :ivar path: the path on disk, or None for an archive member.
    :ivar opener: returns a new binary stream over the content.
    """

    name: str
    size: int
    opener: Callable[[], IO[bytes]]
    path: Path | None = None
    limits: Limits = DEFAULT_LIMITS

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], limits: Limits = DEFAULT_LIMITS) -> "Source":
        """A source for a file on disk."""
        p = Path(path)
        return cls(name=p.name, size=p.stat().st_size, opener=lambda: open(p, "rb"), path=p, limits=limits)

    @classmethod
    def from_bytes(cls, name: str, data: bytes, limits: Limits = DEFAULT_LIMITS) -> "Source":
        """A source over bytes in memory (archive members, tests)."""
        return cls(name=name, size=len(data), opener=lambda: io.BytesIO(data), limits=limits)

    def open(self) -> IO[bytes]:
        """Open a new binary stream over the content."""
        return self.opener()

    def read_bytes(self) -> bytes:
        """Read the whole content, refusing sizes beyond ``limits.max_read_bytes``."""
        if self.size > self.limits.max_read_bytes:
            raise ReadError(
                f"file is {self.size} bytes, more than the {self.limits.max_read_bytes}-byte limit"
            )
        with self.open() as fh:
            # never ask for more than the file claims (+1 to notice a lie), so a small
            # file does not reserve a buffer of the whole limit
            data = fh.read(min(self.size, self.limits.max_read_bytes) + 1)
            if len(data) > self.size:
                data += fh.read(self.limits.max_read_bytes + 1 - len(data))
        if len(data) > self.limits.max_read_bytes:
            raise ReadError(f"file is larger than the {self.limits.max_read_bytes}-byte limit")
        return data

    @property
    def suffix(self) -> str:
        """The lower-cased file name, for extension matching."""
        return self.name.lower()


@attrs.frozen
class SlicerInfo:
    """Facts a slicer wrote into a sliced file; None where the file does not say."""

    printer_model: str | None = None
    layer_height_mm: float | None = None
    print_time_s: float | None = None
    filament_g: float | None = None
    filament_mm: float | None = None
    slicer: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The facts the file has (None values dropped)."""
        return {k: v for k, v in attrs.asdict(self).items() if v is not None}

    # Read like the dict of known facts that ``FileRecord.slicer`` used to be:
    # ``info["printer_model"]``, ``info.get("slicer")``, ``"filament_mm" in info``.

    def __getitem__(self, key: str) -> Any:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        """The fact ``key`` (a field name), or ``default`` when the file does not say."""
        value = getattr(self, key, None) if key in _SLICER_KEYS else None
        return default if value is None else value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def keys(self) -> list[str]:
        """The names of the facts the file has."""
        return list(self.as_dict())


_SLICER_KEYS = frozenset(f.name for f in attrs.fields(SlicerInfo))


@attrs.frozen
class EmbeddedImage:
    """A picture embedded in a file (3MF thumbnail, G-code thumbnail block)."""

    width: int | None
    height: int | None
    format: str  # "png", "jpg" or "qoi"
    data: bytes = attrs.field(repr=False)
    name: str = ""


@attrs.define
class ReadResult:
    """What a reader learnt about one file. Unknown is None, never a guess.

    ``problems`` are non-fatal findings (e.g. a 3MF that breaks the spec but can
    still be read); a fatal one is a :class:`ReadError` instead.
    """

    format: str
    triangles: int | None = None
    bbox_mm: tuple[float, float, float] | None = None
    volume_mm3: float | None = None
    area_mm2: float | None = None
    watertight: bool | None = None
    thumbnails: int = 0
    slicer: SlicerInfo | None = None
    problems: list[str] = attrs.field(factory=list)
    meta: dict[str, Any] = attrs.field(factory=dict)
    #: triangles of zero area (docs/problems.md); None when not a mesh
    degenerate_triangles: int | None = None
    #: a watertight mesh that is inside out; None when unknown or not watertight
    inverted: bool | None = None
    #: the encoding-independent fingerprint of the triangles (:mod:`.mesh`); None without triangles
    geometry_hash: str | None = None


@runtime_checkable
class Reader(Protocol):
    """A format reader.

    :ivar name: unique reader name, e.g. ``"stl"``.
    :ivar extensions: lower-case file-name endings it reads, with the dot,
        e.g. ``(".stl",)`` or ``(".gcode.3mf",)``; the longest match wins.

    Optional, looked up with ``getattr`` (see :mod:`.table`): ``magic``, a tuple
    of byte strings the content starts with, or ``sniff(head) -> bool``, so the
    reader table can give the reader a file whose name says another format;
    ``title``, the format's name for people; ``embedded_images(source)`` and
    ``triangles(source)`` (docs/plugin_hooks.md).
    """

    name: str
    extensions: tuple[str, ...]

    def read(self, source: Source) -> ReadResult:
        """Read ``source`` and return what it holds; raise ReadError if it can't."""
        ...
