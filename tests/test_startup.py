"""Start-up: what ``printmanager ls`` imports, the schema stamp that lets it open the library
over plain sqlite3, and the lazily registered built-in readers."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from printmanager_core import Library, plugin_schema, plugins
from printmanager_core.readers.registered import get_readers, reader_for
from printmanager_core.store import PlainDatabase
from printmanager_core.store.connection import LibraryDatabase
from printmanager_core.store.stamp import read_stamp

#: modules ``ls`` on a small library has no use for (readers, the vault's crypto, the privacy records)
NOT_ON_LS = (
    "printmanager_core.readers.stl",
    "printmanager_core.readers.threemf.reader",
    "printmanager_core.readers.gcode",
    "printmanager_core.readers.step",
    "printmanager_vault.vault",
    "printmanager_vault.store",
    "printmanager_core.privacy.crash",
    "printmanager_core.privacy.sharing",
    "printmanager_core.privacy.export",
    "printmanager_core.store.shares",
    "printmanager_core.store.crash",
    "printmanager_core.store.export",
)

#: what ``ls`` on a library whose schema stamp is current must not import at all: sqlite-utils
#: (with numpy), the migrations, and the heavy dependencies of the readers and plugins
HEAVY = ("sqlite_utils", "numpy", "trimesh", "PIL", "httpx", "cryptography", "rich",
         "printmanager_core.store.migrations", "printmanager_core.store.connection")


@pytest.fixture
def fresh_plugins():
    plugins.reset_plugin_manager()
    yield
    plugins.reset_plugin_manager()


def _imported_by(args: list[str], library: Path) -> tuple[list[str], str]:
    code = ("import json, sys; from printmanager_core.cli import main\n"
            "try:\n    main(['--library', sys.argv[1], *sys.argv[2:]])\nexcept SystemExit:\n    pass\n"
            "print(json.dumps(sorted(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code, str(library), *args], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    return json.loads(lines[-1]), "\n".join(lines[:-1])


def test_ls_imports_no_reader_vault_or_privacy_record_module(tmp_path: Path, corpus: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(corpus / "uranium", data)
    scanned, _ = _imported_by(["scan", str(data)], tmp_path / "lib")
    assert "printmanager_core.readers.stl" in scanned  # a scan reads, so it imports the reader it needs
    modules, out = _imported_by(["ls"], tmp_path / "lib")
    assert "simpleTestCubeBinary.stl" in out  # ls listed the files all the same
    assert sorted(set(NOT_ON_LS) & set(modules)) == []
    assert sorted(set(HEAVY) & set(modules)) == []
    assert "sqlite_utils" in scanned  # the scan opened the library the full way (and stamped it)


def test_builtin_readers_are_lazy_plugins_under_their_module_names(fresh_plugins: None) -> None:
    pm = plugins.get_plugin_manager()
    assert plugins.LAZY_READER_PLUGINS == {m for m in plugins.DEFAULT_PLUGINS if m.startswith("printmanager_core.readers.")}
    stl = pm.get_plugin("printmanager_core.readers.stl")
    assert isinstance(stl, plugins.LazyReaderPlugin)
    assert [h.name for h in pm.get_hookcallers(stl) or []] == ["register_readers"]
    registry = get_readers()
    assert registry.entries["stl"].plugin == "printmanager_core.readers.stl"
    assert stl.module() is sys.modules["printmanager_core.readers.stl"]
    assert reader_for("part.STL").name == "stl"
    assert reader_for("plate.gcode.3mf").name == "gcode.3mf"


def test_a_blocked_builtin_reader_is_not_registered(monkeypatch: pytest.MonkeyPatch, fresh_plugins: None) -> None:
    monkeypatch.setenv("PRINTMANAGER_BLOCK_PLUGINS", "printmanager_core.readers.ply")
    plugins.reset_plugin_manager()
    assert not plugins.get_plugin_manager().has_plugin("printmanager_core.readers.ply")
    assert "ply" not in get_readers().names()
    assert "stl" in get_readers().names()


def test_lazy_exports_of_the_vault_plugin_the_privacy_package_and_the_store() -> None:
    import printmanager_core.privacy as privacy
    import printmanager_core.store as store
    import printmanager_vault as vault

    for name in vault.__all__:
        assert getattr(vault, name) is not None, name
    assert vault.Vault is sys.modules["printmanager_vault.vault"].Vault
    for name in privacy.__all__:
        assert getattr(privacy, name) is not None, name
    assert privacy.Shares is sys.modules["printmanager_core.privacy.sharing"].Shares
    for name in store.__all__:
        assert getattr(store, name) is not None, name
    assert store.SharesGateway is sys.modules["printmanager_core.store.shares"].SharesGateway
    with pytest.raises(AttributeError):
        getattr(store, "no_such_name")
    with pytest.raises(AttributeError):
        getattr(vault, "no_such_name")
    with pytest.raises(AttributeError):
        getattr(privacy, "no_such_name")


def test_missing_extra_reads_a_distributions_requirements_once_per_walk() -> None:
    from importlib import metadata

    from printmanager_core import plugin_extras

    ours = [ep for ep in metadata.entry_points(group="printmanager") if ep.dist is not None]
    assert len({id(ep.dist) for ep in ours}) < len(ours)  # one distribution, several plugins
    first = [plugin_extras._requires(ep.dist) for ep in ours]
    for ep, requires in zip(ours, first):  # read once per distribution: the same list for each of its plugins
        assert requires is plugin_extras._requires(ours[0].dist) or ep.dist is not ours[0].dist
    again = [ep for ep in metadata.entry_points(group="printmanager") if ep.dist is not None]
    assert plugin_extras._requires(again[0].dist) is not first[0]  # a new walk reads the metadata again
    assert plugin_extras._requires(again[0].dist) == first[0]
    assert [plugin_extras.missing_extra(ep) for ep in again] == [plugin_extras.missing_extra(ep) for ep in ours]


def _forget_m043(db_path: Path) -> None:
    """Make the library look as the code before the stamp left it: m043 not applied, no stamp."""
    with sqlite3.connect(db_path) as conn:
        conn.execute("drop table schema_stamp")
        conn.execute("delete from _sqlite_migrations where migration_set = 'printmanager' and name = 'm043_schema_stamp'")
    conn.close()


def test_a_light_open_applies_a_pending_core_migration_then_opens_plain(tmp_path: Path, fresh_plugins: None) -> None:
    with Library(tmp_path / "lib") as lib:  # the full way: migrated, then stamped
        assert isinstance(lib.store.db, LibraryDatabase)
        assert read_stamp(lib.store.db) == plugin_schema.schema_key()
    _forget_m043(tmp_path / "lib" / "printmanager.db")
    with Library(tmp_path / "lib", light=True) as lib:  # no stamp: opened the full way, m043 applied
        assert isinstance(lib.store.db, LibraryDatabase)
        applied = [r[0] for r in lib.store.db.execute("select name from _sqlite_migrations where name like 'm043%'")]
        assert applied == ["m043_schema_stamp"]
        assert read_stamp(lib.store.db) == plugin_schema.schema_key()
    with Library(tmp_path / "lib", light=True) as lib:  # stamped: plain sqlite3, and it reads
        assert type(lib.store.db) is PlainDatabase
        assert lib.files("") == []
        assert lib.settings.get("privacy.analytics") is True


def test_a_stale_stamp_opens_the_full_way(tmp_path: Path, fresh_plugins: None) -> None:
    with Library(tmp_path / "lib"):
        pass
    with sqlite3.connect(tmp_path / "lib" / "printmanager.db") as conn:
        conn.execute("update schema_stamp set key = 'code of another day'")
    conn.close()
    with Library(tmp_path / "lib", light=True) as lib:
        assert isinstance(lib.store.db, LibraryDatabase)
        assert read_stamp(lib.store.db) == plugin_schema.schema_key()  # stamped again


_PLUGIN = """
from sqlite_utils.migrations import Migrations
from printmanager_core import hookimpl

migrations = Migrations("wrens")

@migrations()
def m001_wrens(db):
    db.execute("create table wrens (id integer primary key, name text)")
"""

_PLUGIN_HOOK = """
@hookimpl
def register_migrations(register):
    register(migrations)
"""

_PLUGIN_M002 = """
@migrations()
def m002_wren_notes(db):
    db.execute("alter table wrens add column notes text")
"""


def _import_fresh(name: str) -> object:
    sys.modules.pop(name, None)
    return __import__(name)


def test_a_plugin_with_migrations_changes_the_key_and_its_migrations_are_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_plugins: None
) -> None:
    with Library(tmp_path / "lib"):
        pass
    before = plugin_schema.schema_key()
    module = tmp_path / "mods" / "wrens_plugin.py"
    module.parent.mkdir()
    module.write_text(_PLUGIN + _PLUGIN_HOOK)
    monkeypatch.syspath_prepend(str(module.parent))
    monkeypatch.delitem(sys.modules, "wrens_plugin", raising=False)
    plugins.register_plugin(_import_fresh("wrens_plugin"), name="wrens")
    assert plugin_schema.schema_key() != before  # a plugin with migrations joined
    with Library(tmp_path / "lib", light=True) as lib:  # so the library opens the full way
        assert isinstance(lib.store.db, LibraryDatabase)
        assert "wrens" in lib.store.db.table_names()
    with Library(tmp_path / "lib", light=True) as lib:
        assert type(lib.store.db) is PlainDatabase
    # the plugin's code changes (a new migration): the key follows its file
    module.write_text(_PLUGIN + _PLUGIN_M002 + _PLUGIN_HOOK)
    stat = module.stat()
    os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    plugins.unregister_plugin("wrens")
    plugins.register_plugin(_import_fresh("wrens_plugin"), name="wrens")
    with Library(tmp_path / "lib", light=True) as lib:
        assert isinstance(lib.store.db, LibraryDatabase)
        assert "notes" in lib.store.db["wrens"].columns_dict
    plugins.unregister_plugin("wrens")
    with Library(tmp_path / "lib", light=True) as lib:  # without it, the key is another again
        assert isinstance(lib.store.db, LibraryDatabase)


def test_a_plugin_object_registered_by_hand_never_uses_the_stamp(tmp_path: Path, fresh_plugins: None) -> None:
    from sqlite_utils.migrations import Migrations

    from printmanager_core import hookimpl

    sets = Migrations("finches")

    @sets()
    def m001_finches(db):  # type: ignore[no-untyped-def]
        db.execute("create table finches (id integer primary key)")

    class Finches:
        @hookimpl
        def register_migrations(self, register):  # type: ignore[no-untyped-def]
            register(sets)

    plugins.register_plugin(Finches(), name="finches")
    assert plugin_schema.schema_key() is None  # its sets follow no file
    for _ in range(2):
        with Library(tmp_path / "lib", light=True) as lib:
            assert isinstance(lib.store.db, LibraryDatabase)
            assert "finches" in lib.store.db.table_names()


def test_the_key_follows_the_core_migrations_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_plugins: None
) -> None:
    copy = tmp_path / "migrations.py"
    copy.write_bytes(plugin_schema.CORE_MIGRATIONS.read_bytes())
    monkeypatch.setattr(plugin_schema, "CORE_MIGRATIONS", copy)
    key = plugin_schema.schema_key()
    assert key is not None and key == plugin_schema.schema_key()
    with open(copy, "a", encoding="utf-8") as fh:
        fh.write("\n# a migration appended here\n")
    assert plugin_schema.schema_key() != key
    copy.unlink()
    assert plugin_schema.schema_key() is None  # no source to follow: never the light way


def test_ls_on_an_unstamped_library_lists_and_stamps_it(tmp_path: Path, corpus: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(corpus / "uranium", data)
    _imported_by(["scan", str(data)], tmp_path / "lib")
    _forget_m043(tmp_path / "lib" / "printmanager.db")
    modules, out = _imported_by(["ls"], tmp_path / "lib")
    assert "simpleTestCubeBinary.stl" in out
    assert "sqlite_utils" in modules  # the pending migration was applied the full way
    modules, out = _imported_by(["ls"], tmp_path / "lib")
    assert "simpleTestCubeBinary.stl" in out and "sqlite_utils" not in modules


def _fake_dist(site: Path, name: str, module_text: str, *, requires: str = "") -> None:
    """A distribution ``name`` 1.0 on ``site`` whose module ``name`` is a printmanager plugin."""
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n{requires}\nA description.\n")
    (info / "entry_points.txt").write_text(f"[console_scripts]\n{name} = {name}:main\n\n[printmanager]\n{name} = {name}\n")
    (site / f"{name}.py").write_text(module_text)


def test_entry_points_are_found_as_importlib_metadata_finds_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from importlib import metadata

    from printmanager_core import entry_points

    _fake_dist(tmp_path / "site", "pm_wren", "", requires="Requires-Dist: numpy>=1.0; extra == 'pm_wren'")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    for group in ("printmanager", "console_scripts", "pytest11"):
        ours = [(ep.name, ep.value, ep.dist.project_name, ep.dist.version, ep.dist.requires)
                for ep in entry_points.find(group)]
        theirs = [(ep.name, ep.value, ep.dist.metadata["Name"], ep.dist.version, ep.dist.requires)
                  for ep in metadata.entry_points(group=group)]
        assert ours == theirs, group
    found = {ep.name: ep for ep in entry_points.find("printmanager")}
    assert found["pm_wren"].dist.requires == ["numpy>=1.0; extra == 'pm_wren'"]
    assert found["pm_wren"].dist.metadata["Name"] == "pm_wren"  # the rest from importlib.metadata
    assert found["thumbnails"].load() is sys.modules["printmanager_thumbnails"]


def test_a_third_party_plugin_installed_later_is_found_and_a_broken_one_named_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_plugins: None, caplog: pytest.LogCaptureFixture
) -> None:
    site = tmp_path / "site"
    monkeypatch.setenv("PRINTMANAGER_LOAD_PLUGINS", "thumbnails,pm_finch,pm_broken")
    plugins.reset_plugin_manager()
    assert not plugins.get_plugin_manager().has_plugin("pm_finch")
    _fake_dist(site, "pm_finch", "from printmanager_core import hookimpl\n\n"
                                 "@hookimpl\ndef register_readers(register):\n    pass\n")
    _fake_dist(site, "pm_broken", "raise ImportError('pm_broken needs a missing library')\n")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    for name in ("pm_finch", "pm_broken"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    plugins.reset_plugin_manager()
    pm = plugins.get_plugin_manager()
    assert pm.has_plugin("pm_finch") and pm.has_plugin("thumbnails") and not pm.has_plugin("pm_broken")
    dists = {pm.get_name(p): (d.project_name, d.version) for p, d in pm.list_plugin_distinfo()}
    assert dists["pm_finch"] == ("pm_finch", "1.0") and dists["thumbnails"][0] == "printmanager"
    problems = {p.plugin: p for p in plugins.plugin_problems()}
    assert problems["pm_broken"].line() == (
        "plugin 'pm_broken' failed to load (ImportError: pm_broken needs a missing library); not loaded. "
        "To turn it off: PRINTMANAGER_BLOCK_PLUGINS=pm_broken")
    rows = {row["name"]: row for row in plugins.list_plugins()}
    assert rows["pm_finch"]["distribution"] == "pm_finch" and rows["pm_finch"]["status"] == "on"
    assert rows["pm_broken"]["status"] == "failed" and rows["pm_broken"]["distribution"] == "pm_broken"
