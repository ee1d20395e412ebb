"""STL reader: binary and ASCII.

Binary or ASCII is decided by size first: a file whose size is exactly
``84 + 50 * count`` (count from bytes 80-83) is binary, even if its header
starts with ``solid`` (many CAD exporters write that). Otherwise a file
starting with ``solid`` is read as ASCII, and anything else as binary, whose
declared count must then fit the file: a header claiming more triangles than
the file holds is refused before anything is allocated.

ASCII is parsed strictly, case-insensitively, with one regular expression that
accepts ``facet normal n n n / outer loop / vertex x y z (x3) / endloop /
endfacet`` blocks inside any number of ``solid [name]`` ... ``endsolid [name]``
blocks; anything else is an error naming the line. The numbers are converted
by numpy in one call.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..hookspecs import hookimpl
from .base import ReadError, ReadResult, Source
from .mesh import MeshMetrics, measure_triangles, read_all
from .mesh_stream import measure_triangle_stream
from .stl_small import read_small_binary_stl

__all__ = ["StlReader", "measure_binary_stl", "parse_ascii_stl", "parse_binary_stl", "read_stl_triangles"]

HEADER_SIZE = 84
RECORD_SIZE = 50
#: one binary STL triangle record: normal, three corners, attribute bytes
RECORD = np.dtype([("normal", "<f4", (3,)), ("corners", "<f4", (3, 3)), ("attr", "<u2")])
assert RECORD.itemsize == RECORD_SIZE

_NUM = rb"[-+.0-9a-z]{1,64}"
_XYZ = _NUM + rb"\s+" + _NUM + rb"\s+" + _NUM
_ASCII_TOKEN = re.compile(
    rb"\s*(?:"
    rb"facet\s+normal\s+" + _XYZ + rb"\s+outer\s+loop\s+"
    rb"vertex\s+(" + _XYZ + rb"\s+vertex\s+" + _XYZ + rb"\s+vertex\s+" + _XYZ + rb")"
    rb"\s+endloop\s+endfacet(?=\s|$)"
    rb"|(endsolid|solid)(?:[ \t\f\v]+[^\r\n]*)?(?=[\r\n]|$)"
    rb"|(\S+))"
)
_TEXT_BYTES = frozenset(range(32, 127)) | {9, 10, 12, 13}


def _looks_ascii(head: bytes) -> bool:
    """Starts with ``solid`` and the first bytes are printable text."""
    stripped = head.lstrip()
    if not stripped[:5].lower() == b"solid":
        return False
    sample = head[:512]
    return sum(b not in _TEXT_BYTES for b in sample) <= len(sample) // 100


def parse_binary_stl(data: bytes, limits_max_triangles: int) -> tuple[np.ndarray, list[str]]:
    """The ``(n, 3, 3)`` float32 corners of a binary STL (a view into ``data``).

    :returns: (corners, problems)
    :raises ReadError: truncated, or more triangles than allowed.
    """
    size = len(data)
    if size < HEADER_SIZE:
        raise ReadError(f"truncated binary STL: {size} bytes, less than the 84-byte header")
    count = int.from_bytes(data[80:84], "little")
    _check_binary_count(count, size, limits_max_triangles)
    problems: list[str] = []
    extra = size - HEADER_SIZE - RECORD_SIZE * count
    if extra:
        problems.append(f"binary STL has {extra} bytes after its {count} triangles")
    records = np.frombuffer(data, dtype=RECORD, count=count, offset=HEADER_SIZE)
    return records["corners"], problems


def _check_binary_count(count: int, size: int, max_triangles: int) -> None:
    if count > max_triangles:
        raise ReadError(f"binary STL header declares {count} triangles, more than the limit of {max_triangles}")
    need = HEADER_SIZE + RECORD_SIZE * count
    if size < need:
        raise ReadError(
            f"truncated binary STL: the header declares {count} triangles ({need} bytes) "
            f"but the file has {size} bytes"
        )


def parse_ascii_stl(data: bytes) -> tuple[np.ndarray, dict[str, Any], list[str]]:
    """The ``(n, 3, 3)`` float64 corners of an ASCII STL.

    :returns: (corners, meta, problems)
    :raises ReadError: anything that is not the ASCII STL grammar, or a bad number.
    """
    low = data.lower()
    found = _ASCII_TOKEN.findall(low)
    spans: list[bytes] = []
    keywords: list[bytes] = []
    for corners, keyword, junk in found:
        if corners:
            if not keywords or keywords[-1] != b"solid":
                raise ReadError(f"malformed ASCII STL: a facet outside 'solid' ... 'endsolid' (line {_line_of_facet(low, len(spans))})")
            spans.append(corners)
        elif keyword:
            expected = b"endsolid" if keywords and keywords[-1] == b"solid" else b"solid"
            if keyword != expected:
                raise ReadError(f"malformed ASCII STL: unexpected '{keyword.decode()}' (line {_line_of_token(low, keyword, len(keywords))})")
            keywords.append(keyword)
        else:
            raise ReadError(
                f"malformed ASCII STL at line {_junk_line(low)}: expected 'facet normal x y z / outer loop / "
                f"3 x vertex x y z / endloop / endfacet', found {junk[:40].decode('latin-1')!r}"
            )
    problems: list[str] = []
    if not keywords:
        raise ReadError("not an ASCII STL: no 'solid' line")
    if keywords[-1] == b"solid":
        problems.append("ASCII STL ends without 'endsolid' (truncated?)")
    if not spans:
        return np.empty((0, 3, 3)), {"solids": (len(keywords) + 1) // 2}, problems
    text = b" ".join(spans).replace(b"vertex", b" ")
    try:
        numbers = np.fromstring(text, dtype=np.float64, sep=" ")  # text mode: fast, strict
    except ValueError:
        raise ReadError(f"ASCII STL has a vertex coordinate that is not a number: {_bad_number(text)!r}") from None
    if numbers.size != 9 * len(spans):
        raise ReadError(f"ASCII STL has a vertex coordinate that is not a number: {_bad_number(text)!r}")
    return numbers.reshape(-1, 3, 3), {"solids": (len(keywords) + 1) // 2}, problems


def _bad_number(text: bytes) -> str:
    for token in text.split():
        try:
            float(token)
        except ValueError:
            return token[:40].decode("latin-1")
    return "?"


def _junk_line(low: bytes) -> int:
    for m in _ASCII_TOKEN.finditer(low):
        if m.group(3):
            return low.count(b"\n", 0, m.start(3)) + 1
    return 0


def _line_of_facet(low: bytes, index: int) -> int:
    for i, m in enumerate(m for m in _ASCII_TOKEN.finditer(low) if m.group(1)):
        if i == index:
            return low.count(b"\n", 0, m.start(1)) + 1
    return 0


def _line_of_token(low: bytes, keyword: bytes, index: int) -> int:
    for i, m in enumerate(m for m in _ASCII_TOKEN.finditer(low) if m.group(2)):
        if i == index:
            return low.count(b"\n", 0, m.start(2)) + 1
    return 0


def read_stl_triangles(source: Source) -> tuple[np.ndarray, dict[str, Any], list[str]]:
    """Read an STL source into ``(n, 3, 3)`` corners, meta and problems.

    :raises ReadError: empty, truncated, malformed or over the limits.
    """
    limits = source.limits
    with source.open() as fh:
        head = fh.read(512)
    if not head:
        raise ReadError("empty file")
    size = source.size
    ascii_like = _looks_ascii(head)
    count = int.from_bytes(head[80:84], "little") if len(head) >= HEADER_SIZE else -1
    exact_binary = count >= 0 and size == HEADER_SIZE + RECORD_SIZE * count
    if not ascii_like:
        # binary: refuse a count that cannot fit before reading the rest
        if count < 0:
            raise ReadError(f"truncated binary STL: {size} bytes, less than the 84-byte header")
        _check_binary_count(count, size, limits.max_triangles)
    data = read_all(source)
    if ascii_like and not exact_binary:
        tris, meta, problems = parse_ascii_stl(data)
        meta = {"encoding": "ascii", **meta}
    elif ascii_like:
        # size fits binary exactly and the header starts with 'solid': try ASCII, else binary
        try:
            tris, meta, problems = parse_ascii_stl(data)
            meta = {"encoding": "ascii", **meta}
        except ReadError:
            tris, problems = parse_binary_stl(data, limits.max_triangles)
            meta = {"encoding": "binary"}
    else:
        tris, problems = parse_binary_stl(data, limits.max_triangles)
        meta = {"encoding": "binary"}
    if len(tris) == 0:
        raise ReadError("the STL has no triangles")
    return tris, meta, problems


#: smaller STLs are read whole (one open, fewer numpy calls); the streamed figures are the same
STREAM_MIN_BYTES = 8 * 1024**2


def measure_binary_stl(source: Source, min_bytes: int = STREAM_MIN_BYTES) -> tuple[MeshMetrics, list[str]] | None:
    """Measure a binary STL reading its records in pieces, or None to read it whole.

    Figures, problems and errors are those of :func:`read_stl_triangles` followed by
    :func:`.mesh.measure_triangles`; memory stays near 50 bytes per triangle (see
    :func:`.mesh_stream.measure_triangle_stream`) instead of the file plus float64 copies.

    :param min_bytes: files smaller than this are left to the whole-file path.
    :returns: None for a file under ``min_bytes``, or starting with ``solid`` and maybe ASCII.
    :raises ReadError: empty, truncated, over the limits, or non-finite coordinates.
    """
    if source.size < min_bytes:
        return None
    limits = source.limits
    with source.open() as fh:
        head = fh.read(512)
    if not head:
        raise ReadError("empty file")
    solid = _looks_ascii(head)
    if solid and not _binary_under_solid(source, head):
        return None
    if len(head) < HEADER_SIZE:
        raise ReadError(f"truncated binary STL: {source.size} bytes, less than the 84-byte header")
    count = int.from_bytes(head[80:84], "little")
    too_big = source.size > limits.max_read_bytes
    if too_big and solid:  # read whole first, then told binary, as read_stl_triangles does
        raise ReadError(f"file is {source.size} bytes, more than the {limits.max_read_bytes}-byte limit")
    _check_binary_count(count, source.size, limits.max_triangles)
    if too_big:
        raise ReadError(f"file is {source.size} bytes, more than the {limits.max_read_bytes}-byte limit")
    size = _content_size(source, count)  # the bytes really there (the size on record may be stale)
    _check_binary_count(count, size, limits.max_triangles)
    problems: list[str] = []
    extra = size - HEADER_SIZE - RECORD_SIZE * count
    if extra:
        problems.append(f"binary STL has {extra} bytes after its {count} triangles")
    if count == 0:
        raise ReadError("the STL has no triangles")

    def read(ranges: list[tuple[int, int]]) -> Iterator[np.ndarray]:
        longest = max(stop - start for start, stop in ranges)
        buf = bytearray(RECORD_SIZE * longest)
        with source.open() as stream:
            _read_exactly(stream, memoryview(buf)[:HEADER_SIZE])
            for start, stop in ranges:
                k = stop - start
                _read_exactly(stream, memoryview(buf)[: RECORD_SIZE * k])
                yield np.frombuffer(buf, dtype=RECORD, count=k)["corners"]

    return measure_triangle_stream(read, count, limits), problems


#: a byte the ASCII grammar allows only inside a ``solid``/``endsolid`` name (after lowercasing)
_NOT_FACET_BYTE = re.compile(rb"[^-+.0-9a-z \t\n\r\f\v]")
_LINES = re.compile(rb"[^\r\n]*")


def _binary_under_solid(source: Source, head: bytes) -> bool:
    """A file whose header starts with ``solid`` but that :func:`parse_ascii_stl` must refuse,
    and whose size fits binary exactly: :func:`read_stl_triangles` would read it as binary.

    The grammar allows a byte outside numbers, keywords and white space only in a
    ``solid``/``endsolid`` name, which follows that word on the same line; a line in
    the first 64 KiB with such a byte and no ``solid`` before it proves the ASCII
    parse fails. (False when not proven: the whole-file path decides then.)
    """
    if len(head) < HEADER_SIZE or source.size != HEADER_SIZE + RECORD_SIZE * int.from_bytes(head[80:84], "little"):
        return False
    with source.open() as fh:
        low = fh.read(65536).lower()
    for line in _LINES.finditer(low):
        bad = _NOT_FACET_BYTE.search(low, line.start(), line.end())
        if bad is not None and b"solid" not in low[line.start() : bad.start()]:
            return True
    return False


def _read_exactly(stream: Any, view: memoryview) -> None:
    got = 0
    while got < len(view):
        n = stream.readinto(view[got:])
        if not n:
            raise ReadError("the STL file changed while it was read (it got shorter)")
        got += n


def _content_size(source: Source, count: int) -> int:
    """The length of the content, read through (bounded by ``max_read_bytes``) without keeping it."""
    limit = source.limits.max_read_bytes
    with source.open() as fh:
        try:
            fh.seek(0, 2)
            total = fh.tell()
        except (OSError, ValueError, AttributeError):
            total = 0
            while total <= limit:
                chunk = fh.read(min(1024 * 1024, limit + 1 - total))
                if not chunk:
                    break
                total += len(chunk)
    if total > limit:
        raise ReadError(f"file is larger than the {limit}-byte limit")
    return int(total)


class StlReader:
    """Binary and ASCII STL files."""

    name = "stl"
    extensions = (".stl",)

    def read(self, source: Source) -> ReadResult:
        """Triangles, box, volume, area and watertightness of an STL file.

        A binary STL of a few triangles is measured in plain Python (same figures); a
        binary STL of at least ``STREAM_MIN_BYTES`` (unless its header starts with
        ``solid`` and its first 64 KiB could still be ASCII) is measured in pieces
        straight from the file (:func:`measure_binary_stl`), never held whole;
        the figures are the same, bit for bit, as measuring the whole array.
        """
        small = read_small_binary_stl(source, self.name)
        if small is not None:
            return small
        streamed = measure_binary_stl(source)
        if streamed is not None:
            metrics, problems = streamed
            return ReadResult(format=self.name, problems=problems + metrics.problems(), meta={"encoding": "binary"},
                              **metrics.fields())
        tris, meta, problems = read_stl_triangles(source)
        metrics = measure_triangles(tris, source.limits)
        return ReadResult(format=self.name, problems=problems + metrics.problems(), meta=meta, **metrics.fields())

    def triangles(self, source: Source) -> np.ndarray:
        """The triangles as an ``(n, 3, 3)`` array (for drawing)."""
        return read_stl_triangles(source)[0]


@hookimpl
def register_readers(register: Any) -> None:
    """The STL reader."""
    register(StlReader())
