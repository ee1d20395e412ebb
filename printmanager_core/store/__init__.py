"""The store: the only layer that knows SQL and the schema.

``connection`` opens a library database (per-thread connections, busy timeouts,
private file modes) and applies ``migrations``; the gateways beside them are the
typed way the rest of printmanager reads and writes the catalogue.
"""

from __future__ import annotations

from .connection import (
    DB_NAME,
    SIDE_SUFFIXES,
    LibraryDatabase,
    busy_timeout_default,
    make_private,
    open_database,
    prepare_library_dir,
    schema_version,
)

__all__ = [
    "DB_NAME",
    "SIDE_SUFFIXES",
    "LibraryDatabase",
    "busy_timeout_default",
    "make_private",
    "open_database",
    "prepare_library_dir",
    "schema_version",
]
