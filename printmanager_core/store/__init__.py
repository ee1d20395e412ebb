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



class Store:
    """The typed gateways over one library database (``Library.store``).

    Each gateway is a small class in its own module of this package, built on
    first use; code outside the store reads and writes the catalogue through
    them, never with SQL of its own.
    """

    def __init__(self, db: LibraryDatabase):
        self.db = db


__all__ = [
    "Store",
    "DB_NAME",
    "SIDE_SUFFIXES",
    "LibraryDatabase",
    "busy_timeout_default",
    "make_private",
    "open_database",
    "prepare_library_dir",
    "schema_version",
]
