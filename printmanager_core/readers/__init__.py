"""Format readers. Each built-in reader is a plugin of the ``register_readers`` hook.

:func:`default_table` is the :class:`~.table.ReaderTable` of the registered
readers (by name, then by content); :func:`reader_for` and :func:`read_source`
are thin functions over it (all in :mod:`.registered`, the one module here that
asks the plugin manager).
"""

from __future__ import annotations

import os

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
from .registered import default_table, get_readers, read_source, reader_for, reader_for_source
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
    "read_source",
    "reader_for",
    "reader_for_source",
]


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
