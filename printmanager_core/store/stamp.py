"""The schema stamp (migration m043): for which migration code the schema is current.

Opening a library checks for pending migrations: the core's set and every
plugin's (``register_migrations``). Both are ``sqlite_utils.Migrations``, so the
check imports sqlite-utils (and numpy) and every plugin's schema module. After a
library has opened migrated, :func:`write_stamp` records a key naming the
migration code it was migrated with (:func:`printmanager_core.plugin_schema.schema_key`:
the state of the core's ``migrations.py`` and of each plugin with migrations);
:func:`open_current` opens a :class:`~.plain.PlainDatabase` when the stamp still
holds the key the code has now, so nothing can be pending, and None otherwise
(the caller then opens the library as before, migrating, which writes the stamp).
"""

from __future__ import annotations

from pathlib import Path

from .plain import PlainDatabase, open_plain

__all__ = ["CORE_MIGRATIONS", "open_current", "read_stamp", "write_stamp"]

#: the source of the core's migrations (its state is part of the key)
CORE_MIGRATIONS = Path(__file__).with_name("migrations.py")


def read_stamp(db: PlainDatabase) -> str | None:
    """The key the stamp holds; None when there is none (or no stamp table: before m043)."""
    if db.execute("select 1 from sqlite_master where type = 'table' and name = 'schema_stamp'").fetchone() is None:
        return None
    row = db.execute("select key from schema_stamp where id = 1").fetchone()
    return None if row is None else str(row[0])


def write_stamp(db: PlainDatabase, key: str) -> None:
    """Record ``key`` as the migration code the schema is current for (its own transaction)."""
    with db.conn:
        db.execute("insert or replace into schema_stamp (id, key) values (1, ?)", [key])


def open_current(path: str | Path, key: str | None, *, busy_timeout: float | None = None) -> PlainDatabase | None:
    """The existing database at ``path``, opened over plain ``sqlite3``, when its stamp holds
    ``key``; None when there is no database, no stamp, another key, or ``key`` is None.

    :param key: the key of the migration code running now
        (:func:`printmanager_core.plugin_schema.schema_key`).
    :raises LibraryError: a one-line reason when the file cannot be used.
    """
    path = Path(path)
    if key is None or not path.is_file():
        return None
    db = open_plain(path, busy_timeout=busy_timeout)
    try:
        if read_stamp(db) == key:
            return db
    except BaseException:
        db.close()
        raise
    db.close()
    return None
