"""The readers the plugins registered, and the reader table built from them.

The one module under ``readers/`` that asks the plugin manager (through
:func:`..registry.collect`). Code that is given a :class:`~.table.ReaderTable`
does not need it; :func:`reader_for` and :func:`read_source` are thin functions
over :func:`default_table` for callers that are not given one.
"""

from __future__ import annotations

from ..registry import Registry, collect
from .base import Reader, ReadResult, Source
from .table import ReaderTable

__all__ = ["default_table", "get_readers", "read_source", "reader_for", "reader_for_source"]


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
