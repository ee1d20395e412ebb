"""The plugin system: built-ins as plugins, listing, blocking, lazy entry points, a third-party format."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from printmanager_core import Library, hookimpl, plugins
from printmanager_core.readers import get_readers, reader_for
from printmanager_core.registry import collect

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "printmanager-off"

CUBE_OFF = """OFF
# a 10 mm cube
8 12 0
0 0 0
10 0 0
10 10 0
0 10 0
0 0 10
10 0 10
10 10 10
0 10 10
4 0 3 2 1
4 4 5 6 7
4 0 1 5 4
4 1 2 6 5
4 2 3 7 6
4 3 0 4 7
"""


@pytest.fixture
def fresh_plugins():
    plugins.reset_plugin_manager()
    yield
    plugins.reset_plugin_manager()


def test_builtin_readers_are_plugins() -> None:
    names = {row["name"] for row in plugins.list_plugins()}
    for module in plugins.DEFAULT_PLUGINS:
        assert module in names
    assert {"stl", "obj", "ply", "3mf", "gcode", "bgcode"} <= set(get_readers().names())
    assert reader_for("Benchy.STL").name == "stl"
    assert reader_for("plate.gcode.3mf").name == "gcode.3mf"


def test_our_plugin_packages_load_through_entry_points() -> None:
    rows = {row["name"]: row for row in plugins.list_plugins()}
    for name in ("thumbnails", "vault", "sync", "web"):
        assert name in rows, f"plugin {name} not loaded from its entry point"
        assert rows[name]["distribution"] == "printmanager"
        assert rows[name]["hooks"], f"plugin {name} implements no hooks"


def test_block_plugins_env(monkeypatch: pytest.MonkeyPatch, fresh_plugins: None) -> None:
    monkeypatch.setenv("PRINTMANAGER_BLOCK_PLUGINS", "printmanager_core.readers.ply,sync")
    plugins.reset_plugin_manager()
    names = {row["name"] for row in plugins.list_plugins()}
    assert "printmanager_core.readers.ply" not in names and "sync" not in names
    assert reader_for("cube.ply") is None
    assert reader_for("cube.stl") is not None


def test_load_plugins_env_empty_loads_no_entry_points(monkeypatch: pytest.MonkeyPatch, fresh_plugins: None) -> None:
    monkeypatch.setenv("PRINTMANAGER_LOAD_PLUGINS", "")
    plugins.reset_plugin_manager()
    names = {row["name"] for row in plugins.list_plugins()}
    assert not names & {"thumbnails", "vault", "sync", "web"}


def test_plugins_load_lazily_once(fresh_plugins: None) -> None:
    assert plugins._pm is None
    first = plugins.get_plugin_manager()
    assert plugins.get_plugin_manager() is first


def test_register_readers_name_clash_first_called_wins(fresh_plugins: None) -> None:
    class Shadow:
        name = "stl"
        extensions = (".stl",)

        def read(self, source):  # type: ignore[no-untyped-def]
            raise AssertionError

    class ShadowPlugin:
        @hookimpl
        def register_readers(self, register):  # type: ignore[no-untyped-def]
            register(Shadow())

    plugins.register_plugin(ShadowPlugin(), name="shadow")
    registry = get_readers()
    # the later-registered plugin is called first and wins; the built-in is kept as a clash
    assert registry.entries["stl"].plugin == "shadow"
    assert [c.plugin for c in registry.clashes] == ["printmanager_core.readers.stl"]
    plugins.unregister_plugin("shadow")
    assert get_readers().entries["stl"].plugin == "printmanager_core.readers.stl"


def test_registry_get_unknown_name_is_clear() -> None:
    registry = collect("register_readers", lambda r: r.name)
    with pytest.raises(KeyError, match="no register_readers named 'nope'"):
        registry.get("nope")


def test_example_third_party_plugin_installs_and_adds_a_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_plugins: None
) -> None:
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(site), str(EXAMPLE)],
        check=True,
    )
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    monkeypatch.setenv("PRINTMANAGER_LOAD_PLUGINS", "thumbnails,vault,sync,off")
    plugins.reset_plugin_manager()
    rows = {row["name"]: row for row in plugins.list_plugins()}
    assert rows["off"]["distribution"] == "printmanager-off"
    assert rows["off"]["version"] == "0.1.0"
    assert rows["off"]["hooks"] == ["register_readers"]
    # printmanager has a built-in OFF reader too: the third-party one, registered later, is
    # called first and replaces it (the registry's clash rule); the built-in is kept as a clash
    registry = get_readers()
    assert registry.entries["off"].plugin == "off"
    assert [c.plugin for c in registry.clashes if c.name == "off"] == ["printmanager_core.readers.off"]
    assert type(reader_for("cube.off")).__module__ == "printmanager_off"

    models = tmp_path / "models"
    models.mkdir()
    (models / "cube.off").write_text(CUBE_OFF)
    (models / "broken.off").write_text("OFF\n3 1 0\n0 0 0\n")
    with Library(tmp_path / "lib") as lib:
        lib.scan([models], workers=1)
        cube = lib.file(models / "cube.off")
        assert cube.format == "off" and cube.triangles == 12
        assert cube.bbox_mm == (10.0, 10.0, 10.0)
        assert cube.volume_mm3 == pytest.approx(1000.0)
        assert cube.area_mm2 == pytest.approx(600.0)
        assert cube.watertight is True
        assert lib.file(models / "broken.off").error
        assert [f.name for f in lib.files("format:off")] == ["broken.off", "cube.off"]
