"""The SQLite store: open a library database and bring its schema up to date."""

from __future__ import annotations

from pathlib import Path

from sqlite_utils import Database

from .migrations import migrations

DB_NAME = "printmanager.db"


def open_database(path: str | Path, migrate: bool = True) -> Database:
    """Open (creating if needed) the database at ``path``, in WAL mode, migrated.

    :param path: the database file.
    :param migrate: apply pending migrations (the default).
    """
    db = Database(str(path))
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA busy_timeout = 10000")
    db.enable_wal()
    db.execute("PRAGMA synchronous = NORMAL")
    if migrate:
        migrations.apply(db)
    return db


def schema_version(db: Database) -> list[str]:
    """Names of the migrations applied to ``db``, oldest first."""
    return [m.name for m in migrations.applied(db)]
