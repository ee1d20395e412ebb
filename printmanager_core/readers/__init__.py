"""Format readers. Each built-in reader is a plugin of the ``register_readers`` hook."""

from __future__ import annotations

import os

from ..registry import Registry, collect
from .base import (
    DEFAULT_LIMITS,
    EmbeddedImage,
    Limits,
    NotThisFormat,
    Reader,
    ReadError,
    ReadResult,
    SlicerInfo,
    Source,
)

__all__ = [
    "DEFAULT_LIMITS",
    "EmbeddedImage",
    "Limits",
    "NotThisFormat",
    "ReadError",
    "ReadResult",
    "Reader",
    "SlicerInfo",
    "Source",
    "format_from_name",
    "get_readers",
    "reader_for",
]


def get_readers() -> Registry[Reader]:
    """Every registered reader, by name."""
    return collect("register_readers", lambda reader: reader.name)


def _extension_table() -> dict[str, Reader]:
    registry = get_readers()
    table: dict[str, Reader] | None = registry.derived.get("extensions")
    if table is None:
        table = {}
        for entry in registry:
            for ext in entry.value.extensions:
                table.setdefault(ext.lower(), entry.value)
        registry.derived["extensions"] = table
    return table


def reader_for(name: str) -> Reader | None:
    """The reader for a file name (longest matching extension wins), or None."""
    lower = name.lower()
    table = _extension_table()
    pos = lower.find(".")
    while pos != -1:
        reader = table.get(lower[pos:])
        if reader is not None:
            return reader
        pos = lower.find(".", pos + 1)
    return None


def read_source(source: Source) -> ReadResult:
    """Read ``source`` with the reader its name selects; ReadError if none fits."""
    reader = reader_for(source.name)
    if reader is None:
        raise ReadError(f"no reader for {source.name!r}")
    return reader.read(source)


def format_from_name(name: str) -> str | None:
    """The format of a file read by no reader: its extension, lower-case, without the dot.

    ``"Notes.TXT"`` gives ``"txt"``, ``"scan.jpeg"`` gives ``"jpg"``; a name without
    an extension gives None.
    """
    ext = os.path.splitext(name.lower())[1]
    if len(ext) < 2:
        return None
    return _FORMAT_ALIASES.get(ext[1:], ext[1:])


#: extensions that name the same format as another
_FORMAT_ALIASES = {"jpeg": "jpg"}
