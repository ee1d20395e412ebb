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


def reader_for(name: str) -> Reader | None:
    """The reader for a file name (longest matching extension wins), or None."""
    lower = name.lower()
    best: tuple[int, Reader] | None = None
    for entry in get_readers():
        for ext in entry.value.extensions:
            if lower.endswith(ext) and (best is None or len(ext) > best[0]):
                best = (len(ext), entry.value)
    return best[1] if best else None


def read_source(source: Source) -> ReadResult:
    """Read ``source`` with the reader its name selects; ReadError if none fits."""
    reader = reader_for(source.name)
    if reader is None:
        raise ReadError(f"no reader for {source.name!r}")
    return reader.read(source)
