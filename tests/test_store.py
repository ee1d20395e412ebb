"""The store: a blank database and an upgraded one get the same schema."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from printmanager_core.store import migrations as migrations_module
from printmanager_core.errors import NotALibrary
from printmanager_core.store import open_database, prepare_library_dir, schema_version


def _schema(db: Database) -> dict[str, str]:
    return {
        name: sql
        for name, sql in db.execute(
            "select name, sql from sqlite_master where sql is not null and name not like 'sqlite_%' "
            "and name != '_sqlite_migrations' order by name"
        ).fetchall()
    }


def test_blank_database_gets_every_migration(tmp_path: Path) -> None:
    db = open_database(tmp_path / "blank.db")
    names = schema_version(db)
    assert names == [m.name for m in migrations_module.migrations.pending(Database(memory=True))]
    assert names[0] == "m001_catalogue"
    assert {"roots", "models", "files", "tags", "collections", "files_fts", "models_fts"} <= set(db.table_names())
    assert db.execute("pragma journal_mode").fetchone()[0] == "wal"


def test_upgraded_database_matches_blank_and_keeps_data(tmp_path: Path) -> None:
    # A database from the first release: only m001 applied, with user data in it.
    first_release = Migrations("printmanager")
    first_release()(migrations_module.m001_catalogue)
    old = Database(str(tmp_path / "old.db"))
    first_release.apply(old)
    old["roots"].insert({"path": "/prints", "added_at": "2026-01-01T00:00:00+00:00"})
    old["models"].insert({"root_id": 1, "path": "/prints/benchy", "name": "benchy", "kind": "folder"})
    old["files"].insert({"root_id": 1, "model_id": 1, "path": "/prints/benchy/hull.stl", "name": "hull.stl",
                         "tags": "boat", "notes": "print slowly"})
    old.close()

    upgraded = open_database(tmp_path / "old.db")
    blank = open_database(tmp_path / "blank.db")
    assert schema_version(upgraded) == schema_version(blank)
    assert _schema(upgraded) == _schema(blank)
    row = upgraded.execute("select name, tags, notes from files").fetchone()
    assert row == ("hull.stl", "boat", "print slowly")
    # FTS still finds the old row after the upgrade.
    hits = upgraded.execute("select rowid from files_fts where files_fts match 'slowly'").fetchall()
    assert hits == [(1,)]


def test_migrations_are_named_in_order() -> None:
    names = [m.name for m in migrations_module.migrations.pending(Database(memory=True))]
    numbers = [int(n[1:4]) for n in names]
    assert all(n.startswith("m") and n[4] == "_" for n in names)
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)


def test_opening_twice_is_idempotent(tmp_path: Path) -> None:
    open_database(tmp_path / "x.db").close()
    db = open_database(tmp_path / "x.db")
    assert len(schema_version(db)) == len(set(schema_version(db)))
    con = sqlite3.connect(tmp_path / "x.db")
    assert con.execute("pragma integrity_check").fetchone()[0] == "ok"


def _prepare_after(barrier: Any, directory: str) -> str:
    barrier.wait()
    try:
        prepare_library_dir(Path(directory))
    except Exception as exc:  # reported to the parent, which fails the test with it
        return f"{type(exc).__name__}: {exc}"
    return ""


def test_processes_creating_one_new_library_folder_at_once_all_succeed(tmp_path: Path) -> None:
    # found by the two-scans test on a loaded machine: the loser of the mkdir race
    # was told the new folder "is a file, not a library folder"
    ctx = multiprocessing.get_context("fork")
    with ctx.Manager() as manager, concurrent.futures.ProcessPoolExecutor(6, mp_context=ctx) as pool:
        for attempt in range(15):
            barrier = manager.Barrier(6)
            target = tmp_path / f"new{attempt}" / "library"
            errors = list(pool.map(_prepare_after, [barrier] * 6, [str(target)] * 6))
            assert errors == [""] * 6, errors
            assert target.is_dir() and target.stat().st_mode & 0o777 == 0o700
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(NotALibrary, match="is a file, not a library folder"):
        prepare_library_dir(tmp_path / "a-file")
