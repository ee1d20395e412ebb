"""Plugins own their schema and settings: the register_migrations and register_settings hooks."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any, Iterator

import pytest
from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from printmanager_core import Library, hookimpl, plugins
from printmanager_core.errors import UsageError
from printmanager_core.plugin_schema import plugin_migrations
from printmanager_core.settings import DEFAULTS, Setting, plugin_settings
from printmanager_core.store import migrations as core


@pytest.fixture
def fresh_plugins() -> Iterator[None]:
    plugins.reset_plugin_manager()
    yield
    plugins.reset_plugin_manager()


def _migration_sets(db: Any) -> dict[str, list[str]]:
    sets: dict[str, list[str]] = {}
    for set_name, name in db.execute("select migration_set, name from _sqlite_migrations order by id"):
        sets.setdefault(set_name, []).append(name)
    return sets


def _birdhouse(table: str = "birdhouse_sightings", fail: bool = False) -> Migrations:
    migrations = Migrations("birdhouse")

    @migrations()
    def m001_sightings(db: Database) -> None:
        db.table(table).create({"id": int, "file_id": int, "bird": str}, pk="id",
                               foreign_keys=[("file_id", "files", "id")])
        if fail:
            raise RuntimeError("the birdhouse migration broke")

    return migrations


class _Registers:
    """A plugin whose register_migrations registers the given sets."""

    def __init__(self, *sets: Migrations):
        self.sets = sets

    @hookimpl
    def register_migrations(self, register):  # type: ignore[no-untyped-def]
        for s in self.sets:
            register(s)


def test_register_migrations_makes_a_plugin_owned_table(tmp_path: Path, fresh_plugins: None) -> None:
    plugins.register_plugin(_Registers(_birdhouse()), name="birdhouse")
    with Library(tmp_path / "lib") as lib:
        assert "birdhouse_sightings" in lib.store.db.table_names()
        assert _migration_sets(lib.store.db)["birdhouse"] == ["m001_sightings"]  # which plugin's set made what
        assert plugin_migrations().entries["birdhouse"].plugin == "birdhouse"
        lib.store.db["birdhouse_sightings"].insert({"bird": "wren"})
    with Library(tmp_path / "lib") as lib:  # opening again applies nothing twice, keeps the rows
        assert _migration_sets(lib.store.db)["birdhouse"] == ["m001_sightings"]
        assert [r["bird"] for r in lib.store.db["birdhouse_sightings"].rows] == ["wren"]
    # without the plugin, the library opens as before and its table stays
    plugins.unregister_plugin("birdhouse")
    with Library(tmp_path / "lib") as lib:
        assert "birdhouse_sightings" in lib.store.db.table_names()


def test_register_migrations_clashes_are_settled_by_the_core(
    tmp_path: Path, fresh_plugins: None, caplog: pytest.LogCaptureFixture
) -> None:
    plugins.register_plugin(_Registers(_birdhouse("first_table")), name="first")
    plugins.register_plugin(_Registers(_birdhouse("second_table")), name="second")
    core_name = Migrations(core.migrations.name)
    core_name()(core.m001_catalogue)
    plugins.register_plugin(_Registers(core_name), name="usurper")
    with caplog.at_level(logging.WARNING), Library(tmp_path / "lib") as lib:
        tables = set(lib.store.db.table_names())
        # the plugin pluggy calls first (the later registered) keeps the set name; the other is named
        assert "second_table" in tables and "first_table" not in tables
        registry = plugin_migrations()
        assert registry.entries["birdhouse"].plugin == "second"
        assert [c.plugin for c in registry.clashes] == ["first"]
        assert "'birdhouse' from first ignored; second registered it first" in caplog.text
        # the core's own set name is refused, and the plugin named
        problems = {(p.plugin, p.where): p for p in plugins.plugin_problems()}
        assert "is the core's" in problems[("usurper", "register_migrations")].error
        assert "printmanager" not in registry


def test_register_migrations_a_failing_set_is_rolled_back_and_stepped_around(
    tmp_path: Path, fresh_plugins: None
) -> None:
    plugins.register_plugin(_Registers(_birdhouse(fail=True)), name="broken")
    with Library(tmp_path / "lib") as lib:  # the library opens
        assert "birdhouse_sightings" not in lib.store.db.table_names()  # nothing half-made
        assert "birdhouse" not in _migration_sets(lib.store.db)
        problem = {p.plugin: p for p in plugins.plugin_problems()}["broken"]
        assert problem.where == "register_migrations" and "the birdhouse migration broke" in problem.error
        lib.scan([])  # and works
    plugins.unregister_plugin("broken")
    plugins.register_plugin(_Registers(_birdhouse()), name="fixed")
    with Library(tmp_path / "lib") as lib:  # the fixed plugin's set is applied next time
        assert "birdhouse_sightings" in lib.store.db.table_names()


def _old_library(directory: Path) -> None:
    """A library as the code before plugins owned their schema made it: core m001..m007 only."""
    old = Migrations("printmanager")
    for step in (core.m001_catalogue, core.m002_settings, core.m004_privacy, core.m005_sync,
                 core.m006_search_indexes, core.m007_exact_paths):
        old()(step)
    directory.mkdir()
    db = Database(str(directory / "printmanager.db"))
    old.apply(db)
    db["roots"].insert({"path": "/prints", "added_at": "2026-01-01T00:00:00+00:00"})
    db["models"].insert({"root_id": 1, "path": "/prints/benchy", "name": "benchy", "kind": "folder"})
    for i, thumb in enumerate(("/lib/thumbnails/ab/cd.png", None), start=1):
        db["files"].insert({"root_id": 1, "model_id": 1, "path": f"/prints/benchy/part{i}.stl",
                            "name": f"part{i}.stl", "format": "stl", "thumbnail_path": thumb})
    db["settings"].insert({"key": "thumbnails.size", "value": "128", "updated_at": "2026-01-01T00:00:00+00:00"})
    db.close()


def test_register_migrations_thumbnails_slot_on_a_library_made_by_the_old_code(tmp_path: Path) -> None:
    lib_dir = tmp_path / "lib"
    _old_library(lib_dir)
    with Library(lib_dir) as lib:
        sets = _migration_sets(lib.store.db)
        assert sets["thumbnails"] == ["m001_thumbnail_slot"]
        assert plugin_migrations().entries["thumbnails"].plugin == "thumbnails"
        # the thumbnails the old code recorded are kept, and found the same ways
        assert lib.file("/prints/benchy/part1.stl").thumbnail == "/lib/thumbnails/ab/cd.png"
        assert lib.file("/prints/benchy/part2.stl").thumbnail is None
        assert [f.name for f in lib.files("has:thumbnail")] == ["part1.stl"]
        assert lib.settings.get("thumbnails.size") == 128  # the stored setting, now the plugin's
        from printmanager_thumbnails.schema import slot

        assert slot(lib.store.db).empty_ids() == [2]
        plan = " ".join(r[-1] for r in lib.store.db.execute(
            "explain query plan select id from files where missing = 0 and error is null "
            "and thumbnail_path is null order by id"))
        assert "thumbnails_missing" in plan  # the plugin's index serves its question
    con = sqlite3.connect(lib_dir / "printmanager.db")
    assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
    con.close()


class _Settings:
    def __init__(self, *settings: Setting):
        self.settings = settings

    @hookimpl
    def register_settings(self, register):  # type: ignore[no-untyped-def]
        for s in self.settings:
            register(s)


def _even(value: Any) -> None:
    if value % 2:
        raise UsageError(f"birdhouse.perches takes an even number, not {value}")


def test_register_settings_plugin_owned_defaults_types_and_checks(library: Library, fresh_plugins: None) -> None:
    plugins.register_plugin(_Settings(Setting("birdhouse.colour", "red", "paint"),
                                      Setting("birdhouse.perches", 2, "perches", check=_even),
                                      Setting("birdhouse.roof", True)), name="birdhouse")
    owned = plugin_settings()
    assert owned["birdhouse.colour"].plugin == "birdhouse" and owned["thumbnails.size"].plugin == "thumbnails"
    assert "thumbnails.size" not in DEFAULTS  # the thumbnails plugin owns its settings
    assert library.settings.get("birdhouse.perches") == 2
    assert library.settings.all()["birdhouse.colour"] == "red"
    library.settings.set("birdhouse.perches", 4)
    assert library.settings.get("birdhouse.perches") == 4
    for key, bad, fragment in (("birdhouse.perches", 3, "even number"), ("birdhouse.perches", "4", "whole number"),
                               ("birdhouse.roof", "yes", "true or false")):
        with pytest.raises(UsageError, match=fragment):
            library.settings.set(key, bad)
    assert library.settings.consent_ledger() == []  # plugin settings are not privacy switches


def test_register_settings_clashes_and_core_keys(
    library: Library, fresh_plugins: None, caplog: pytest.LogCaptureFixture
) -> None:
    plugins.register_plugin(_Settings(Setting("birdhouse.colour", "red")), name="first")
    plugins.register_plugin(_Settings(Setting("birdhouse.colour", "blue")), name="second")
    plugins.register_plugin(_Settings(Setting("privacy.analytics", False)), name="sneaky")
    plugins.register_plugin(_Settings(Setting("thumbnails.size", 64)), name="copycat")
    with caplog.at_level(logging.WARNING):
        owned = plugin_settings()
    assert owned["birdhouse.colour"].plugin == "second" and library.settings.get("birdhouse.colour") == "blue"
    # a later plugin is called first, so copycat's thumbnails.size wins over the thumbnails plugin's: named
    assert "'thumbnails.size' from thumbnails ignored; copycat registered it first" in caplog.text
    assert library.settings.get("privacy.analytics") is True  # a core setting stays the core's
    problems = {(p.plugin, p.where): p for p in plugins.plugin_problems()}
    assert "cannot be a plugin's setting" in problems[("sneaky", "register_settings")].error


def test_register_migrations_sync_owns_its_tables(
    tmp_path: Path, fresh_plugins: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync_tables = {"sync_state", "sync_files", "sync_blobs", "sync_uploads", "sync_upload_parts"}
    # a library made by the old code, with sync state: kept as it is, adopted by the plugin's set
    old_dir = tmp_path / "old"
    _old_library(old_dir)
    db = Database(str(old_dir / "printmanager.db"))
    db["sync_state"].insert({"key": "backend", "value": '{"name": "folder"}'})
    db["sync_files"].insert({"path": "/prints/benchy/part1.stl", "size": 84, "mtime_ns": 1, "blob": "b1"})
    db.close()
    with Library(old_dir) as lib:
        assert sync_tables <= set(lib.store.db.table_names())
        assert _migration_sets(lib.store.db)["sync"] == ["m001_sync_tables"]
        assert lib.store.db.execute("select value from sync_state where key = 'backend'").fetchone()[0] == (
            '{"name": "folder"}')
        assert lib.store.db["sync_files"].count == 1
    # a new library: the tables come from the plugin's set, not the core
    with Library(tmp_path / "new") as lib:
        assert sync_tables <= set(lib.store.db.table_names())
        assert "sync" in _migration_sets(lib.store.db)
    # without the sync plugin, a new library has no sync tables at all
    monkeypatch.setenv("PRINTMANAGER_BLOCK_PLUGINS", "sync")
    plugins.reset_plugin_manager()
    with Library(tmp_path / "no-sync") as lib:
        assert not sync_tables & set(lib.store.db.table_names())
        assert "sync" not in _migration_sets(lib.store.db)
