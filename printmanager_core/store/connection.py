"""The SQLite store: open a library database and bring its schema up to date.

:class:`LibraryDatabase` is a :class:`~.plain.PlainDatabase` (per-thread
connections, busy waits, private files: see :mod:`.plain` for the thread model)
that is also a ``sqlite_utils.Database``: the migrations and the plugins' stores
use sqlite-utils' API on it. :func:`open_database` opens one and applies the
pending migrations.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from .sqlite_utils_import import import_sqlite_utils

if TYPE_CHECKING:
    from sqlite_utils import Database
else:
    Database = import_sqlite_utils().Database  # before anything imports it (no numpy)
from .migrations import migrations
from .plain import (
    BUSY_TIMEOUT_S,
    DB_NAME,
    ENV_BUSY_TIMEOUT,
    SIDE_SUFFIXES,
    YIELD_MAX_S,
    PlainDatabase,
    _Connection,
    busy_timeout_default,
    make_private,
    prepare_database_file,
    prepare_library_dir,
    set_wal,
)

__all__ = [
    "BUSY_TIMEOUT_S",
    "DB_NAME",
    "ENV_BUSY_TIMEOUT",
    "SIDE_SUFFIXES",
    "YIELD_MAX_S",
    "LibraryDatabase",
    "busy_timeout_default",
    "make_private",
    "open_database",
    "prepare_library_dir",
    "schema_version",
]


class LibraryDatabase(PlainDatabase, Database):
    """A ``sqlite_utils.Database`` on one file with a connection per thread.

    Everything sqlite-utils offers works as usual; ``db.conn`` is the calling
    thread's connection (opened on first use with the same settings). Use
    :func:`open_database` to make one.
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = BUSY_TIMEOUT_S):
        PlainDatabase.__init__(self, path, busy_timeout=busy_timeout)
        # sqlite-utils' own __init__ prepares the first connection (plugins, pragmas)
        Database.__init__(self, self._connect(prepare=False))

    def _prepare(self, c: _Connection) -> None:
        """A new thread's connection: sqlite-utils' plugins prepare it like the first."""
        try:
            from sqlite_utils.plugins import pm
        except ImportError:  # pragma: no cover - older sqlite-utils
            return
        pm.hook.prepare_connection(conn=c)


def open_database(path: str | Path, migrate: bool = True, *, busy_timeout: float | None = None) -> LibraryDatabase:
    """Open (creating if needed, mode 0600) the database at ``path``, in WAL mode, migrated.

    :param path: the database file.
    :param migrate: apply pending migrations (the default).
    :param busy_timeout: seconds a write waits for another writer (default
        :func:`busy_timeout_default`).
    :raises LibraryError: a one-line reason when the file cannot be used.
    """
    path, busy_timeout = prepare_database_file(path, busy_timeout)
    db = LibraryDatabase(path, busy_timeout=busy_timeout)
    try:
        set_wal(db)
        if migrate and migrations.pending(db):
            # Two processes opening a new library at once: the second waits for the
            # write lock, then finds nothing left to apply.
            with db.conn:
                migrations.apply(db)
    except BaseException:
        db.close()
        raise
    return db


def schema_version(db: Database) -> list[str]:
    """Names of the migrations applied to ``db``, oldest first."""
    return [m.name for m in migrations.applied(db)]
