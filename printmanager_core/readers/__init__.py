"""Format readers. Each built-in reader is a plugin of the ``register_readers`` hook.

:func:`default_table` is the :class:`~.table.ReaderTable` of the registered
readers (by name, then by content); :func:`reader_for` and :func:`read_source`
are thin functions over it.
"""

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
from .table import ReaderTable

__all__ = [
    "DEFAULT_LIMITS",
    "EmbeddedImage",
    "Limits",
    "NotThisFormat",
    "ReadError",
    "ReadResult",
    "Reader",
    "ReaderTable",
    "SlicerInfo",
    "Source",
    "default_table",
    "format_from_name",
    "get_readers",
    "reader_for",
    "reader_for_source",
]


def get_readers() -> Registry[Reader]:
    """Every registered reader, by name."""
    return collect("register_readers", lambda reader: reader.name)


def default_table() -> ReaderTable:
    """The table of every registered reader (built once per plugin set)."""
    registry = get_readers()
    table: ReaderTable | None = registry.derived.get("table")
    if table is None:
        table = ReaderTable.from_readers(entry.value for entry in registry)
        registry.derived["table"] = table
    return table


def reader_for(name: str) -> Reader | None:
    """The reader for a file name (longest matching extension wins), or None."""
    return default_table().for_name(name)


def reader_for_source(source: Source) -> Reader | None:
    """The reader for a source: by its name, then by its first bytes (see :mod:`.table`)."""
    return default_table().for_source(source)


def read_source(source: Source) -> ReadResult:
    """Read ``source`` with the reader its name and content select; ReadError if none fits."""
    return default_table().read(source)


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
