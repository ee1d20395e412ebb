"""Format readers. Each built-in reader is a plugin of the ``register_readers`` hook."""

from __future__ import annotations

from ..registry import Registry, collect
from .base import (
    DEFAULT_LIMITS,
    EmbeddedImage,
    Limits,
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
    "ReadError",
    "ReadResult",
    "Reader",
    "SlicerInfo",
    "Source",
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
