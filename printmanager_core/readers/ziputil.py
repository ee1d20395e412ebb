"""Safe access to zip archives: 3MF packages and ``.zip`` models.

Everything in a zip is declared by the archive itself and may lie, so:

- :func:`open_zip` opens a :class:`~.base.Source` as a zip and turns "not a zip"
  into a :class:`~.base.ReadError`;
- :func:`safe_members` refuses an archive with too many members, with a member
  name that could escape a folder when extracted (``..``, absolute paths, drive
  letters, backslash tricks, NUL bytes), with duplicate names, or with members
  whose data overlap (the construction of non-recursive zip bombs);
- :func:`read_member` refuses encrypted members, members whose declared size is
  over ``Limits.max_member_bytes`` and members whose compression ratio is over
  ``Limits.max_compression_ratio`` (only checked above
  :data:`RATIO_CHECK_MIN_BYTES`: small members are harmless whatever their
  ratio); it then reads at most the declared size + 1 bytes, in chunks, and
  refuses a member that inflates to more than it declared.

Every refusal is a ``ReadError`` with a one-line message naming the member.
"""

from __future__ import annotations

import io
import lzma
import re
import zipfile
import zlib
from typing import IO

from .. import budget
from .base import DEFAULT_LIMITS, Limits, ReadError, Source

__all__ = [
    "RATIO_CHECK_MIN_BYTES",
    "check_member_name",
    "open_zip",
    "peek_member",
    "read_member",
    "read_member_named",
    "safe_members",
]

#: members that inflate to less than this are not checked for compression ratio
RATIO_CHECK_MIN_BYTES = 1024 * 1024

_CHUNK = 1024 * 1024
_LOCAL_HEADER_SIZE = 30  # fixed part of a zip local file header
_DRIVE = re.compile(r"^[A-Za-z]:")
_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError,
           RuntimeError, IndexError, KeyError, zlib.error, lzma.LZMAError)


class _SourceZipFile(zipfile.ZipFile):
    """A ZipFile that also closes the stream it was opened over."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._owned_stream = stream
        super().__init__(stream)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._owned_stream.close()


def open_zip(source: Source) -> zipfile.ZipFile:
    """Open ``source`` as a zip archive (use it as a context manager).

    The source's stream is used directly when it is seekable, otherwise it is
    read into memory (size-checked by :meth:`Source.read_bytes`).

    :raises ReadError: the content is not a readable zip archive.
    """
    stream = source.open()
    try:
        if not stream.seekable():
            stream.close()
            stream = io.BytesIO(source.read_bytes())
        return _SourceZipFile(stream)
    except ReadError:
        stream.close()
        raise
    except _ERRORS as exc:
        stream.close()
        raise ReadError(f"not a zip archive: {_describe(exc)}") from None


def check_member_name(name: str) -> None:
    """Refuse a member name that could escape the extraction folder.

    Backslashes count as separators (Windows tools and extractors treat them so),
    so ``..\\x``, ``\\x`` and ``C:\\x`` are refused like ``../x``, ``/x`` and ``C:/x``.

    :raises ReadError: the name is empty, absolute, has a drive letter, a ``..``
        component or a NUL/control character.
    """
    if not name:
        raise ReadError("unsafe zip member: empty name")
    if any(ord(ch) < 32 for ch in name):
        raise ReadError(f"unsafe zip member name {name!r}: it contains control characters")
    normal = name.replace("\\", "/")
    if normal.startswith("/"):
        raise ReadError(f"unsafe zip member name {name!r}: an absolute path")
    if _DRIVE.match(normal):
        raise ReadError(f"unsafe zip member name {name!r}: it has a drive letter")
    if any(part == ".." for part in normal.split("/")):
        raise ReadError(f"unsafe zip member name {name!r}: path traversal, it climbs out of the archive ('..')")


def safe_members(zf: zipfile.ZipFile, limits: Limits = DEFAULT_LIMITS) -> list[zipfile.ZipInfo]:
    """The archive's members, after checking the archive as a whole.

    :raises ReadError: too many members, an unsafe or duplicate member name, or
        members whose data overlap.
    """
    infos = zf.infolist()
    if len(infos) > limits.max_members:
        raise ReadError(f"zip archive has {len(infos)} members, more than the limit of {limits.max_members}")
    seen: set[str] = set()
    for info in infos:
        check_member_name(info.filename)
        key = info.filename.replace("\\", "/")
        if key in seen:
            raise ReadError(f"zip archive has two members named {info.filename!r}")
        seen.add(key)
    _check_overlap(infos)
    return infos


def _check_overlap(infos: list[zipfile.ZipInfo]) -> None:
    """Refuse members whose local header + data run into the next member's header."""
    spans = sorted((i.header_offset, i.header_offset + _LOCAL_HEADER_SIZE + i.compress_size, i.filename)
                   for i in infos)
    for (start, end, name), (next_start, _, next_name) in zip(spans, spans[1:]):
        if next_start < end or next_start == start:
            raise ReadError(
                f"zip members {name!r} and {next_name!r} overlap (a zip-bomb construction)"
            )


def read_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits = DEFAULT_LIMITS, *, xml: bool = False
) -> bytes:
    """Read one member's content, bounded by the limits and by its declared size.

    :param xml: the member is an XML document: refuse it as soon as a run of more than
        ``limits.max_xml_token_bytes`` bytes without a ``<`` (one tag, attribute or text)
        has been read, before reading the rest.
    :raises ReadError: the member is encrypted, too big, too compressed (zip
        bomb), inflates past its declared size, or its data is corrupt.
    """
    name = info.filename
    _check_member(info, limits)
    declared = info.file_size
    # one growing buffer (getvalue() hands it over without a copy): the member is in
    # memory once, not once in chunks and again joined
    out = io.BytesIO()
    total = 0
    run = 0  # bytes since the last '<' (xml only)
    token_limit = limits.max_xml_token_bytes
    try:
        with zf.open(info) as fh:
            while total <= declared:
                chunk = fh.read(min(_CHUNK, declared + 1 - total))
                if not chunk:
                    break
                if xml:
                    first = chunk.find(b"<")
                    if first < 0:
                        run += len(chunk)
                    else:
                        run += first
                        if run <= token_limit:
                            run = len(chunk) - chunk.rfind(b"<") - 1
                    if run > token_limit:
                        raise ReadError(
                            f"zip member {name!r} has an XML tag, attribute or text of more than the "
                            f"limit of {token_limit} bytes"
                        )
                out.write(chunk)
                total += len(chunk)
                budget.check()
    except _ERRORS as exc:
        raise ReadError(f"cannot extract zip member {name!r}: {_describe(exc)}") from None
    if total > declared:
        raise ReadError(f"zip member {name!r} inflates to more than its declared {declared} bytes")
    if total < declared:
        raise ReadError(f"zip member {name!r} is truncated: {total} of {declared} bytes")
    return out.getvalue()


def _check_member(info: zipfile.ZipInfo, limits: Limits) -> None:
    """Refuse a member for its name, being a folder, encryption, declared size or compression ratio."""
    name = info.filename
    check_member_name(name)
    if info.is_dir():
        raise ReadError(f"zip member {name!r} is a folder")
    if info.flag_bits & 0x1:
        raise ReadError(f"zip member {name!r} is encrypted")
    cap = min(limits.max_member_bytes, limits.max_read_bytes)
    if info.file_size > cap:
        raise ReadError(f"zip member {name!r} is {info.file_size} bytes uncompressed, more than the limit of {cap}")
    _check_ratio(name, info.file_size, info.compress_size, limits)


def peek_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, size: int, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """The first ``size`` bytes of a member (fewer if it is shorter), only those inflated.

    :raises ReadError: the member would be refused by :func:`read_member` for its name,
        encryption, declared size or compression ratio, or its first bytes cannot be read.
    """
    name = info.filename
    _check_member(info, limits)
    try:
        with zf.open(info) as fh:
            return fh.read(min(size, info.file_size))
    except _ERRORS as exc:
        raise ReadError(f"cannot extract zip member {name!r}: {_describe(exc)}") from None


def read_member_named(zf: zipfile.ZipFile, name: str, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """Read the member called ``name`` (see :func:`read_member`).

    :raises ReadError: there is no such member, or it cannot be read safely.
    """
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise ReadError(f"zip archive has no member {name!r}") from None
    return read_member(zf, info, limits)


def _check_ratio(name: str, size: int, compressed: int, limits: Limits) -> None:
    if size <= RATIO_CHECK_MIN_BYTES:
        return
    ratio = size / max(compressed, 1)
    if ratio > limits.max_compression_ratio:
        raise ReadError(
            f"zip member {name!r} has compression ratio {ratio:.0f}:1, more than the limit of "
            f"{limits.max_compression_ratio:.0f}:1 (zip bomb?)"
        )


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text or type(exc).__name__
