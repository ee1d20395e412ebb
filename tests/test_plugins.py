"""The plugin system: built-ins as plugins, listing, blocking, lazy entry points, a third-party format."""

from __future__ import annotations

import importlib
import json
import logging
import os
import subprocess
import sys
import types
from pathlib import Path

import pluggy
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


def test_add_hookspecs_plugins_own_their_specs(fresh_plugins: None) -> None:
    import printmanager_sync.hookspecs
    import printmanager_thumbnails.hookspecs
    import printmanager_vault.hookspecs
    from printmanager_core import hookspecs

    owners = {"make_thumbnail": printmanager_thumbnails.hookspecs, "register_credential_stores":
              printmanager_vault.hookspecs, "register_sync_backends": printmanager_sync.hookspecs}
    specs = plugins.hook_specs()
    for hook, module in owners.items():
        assert not hasattr(hookspecs, hook), f"{hook} is still specified in the core"
        assert specs[hook] is getattr(module, hook)
    assert specs["make_thumbnail"].printmanager_spec["firstresult"] is True

    # a plugin registered later adds its own spec, and another plugin implements it
    def register_widgets(register):  # type: ignore[no-untyped-def]
        """Register widgets."""

    Spec = types.ModuleType("widget_specs")
    Spec.register_widgets = plugins.hookspecs.hookspec(register_widgets)  # type: ignore[attr-defined]

    class Owner:
        @hookimpl
        def add_hookspecs(self, plugin_manager):  # type: ignore[no-untyped-def]
            plugin_manager.add_hookspecs(Spec)

    class Implementer:
        @hookimpl
        def register_widgets(self, register):  # type: ignore[no-untyped-def]
            register("gear")

    plugins.register_plugin(Owner(), name="owner")
    plugins.register_plugin(Implementer(), name="implementer")
    assert "register_widgets" in plugins.hook_specs()
    assert collect("register_widgets", lambda name: name).names() == ["gear"]


def test_a_plugins_own_hooks_are_absent_when_it_is_blocked(
    monkeypatch: pytest.MonkeyPatch, fresh_plugins: None, caplog: pytest.LogCaptureFixture
) -> None:
    from printmanager_sync.backends import backend_registry
    from printmanager_vault import credential_stores

    monkeypatch.setenv("PRINTMANAGER_BLOCK_PLUGINS", "thumbnails,vault,sync")
    plugins.reset_plugin_manager()
    specs = plugins.hook_specs()
    assert not {"make_thumbnail", "register_credential_stores", "register_sync_backends"} & set(specs)
    # code that calls a blocked plugin's hook gets nothing, not an error
    assert len(credential_stores()) == 0 and len(backend_registry()) == 0
    assert plugins.call_hook_safely("make_thumbnail", library=None, file=None, size=64) == []

    class Optional:
        @hookimpl(optionalhook=True, specname="make_thumbnail")
        def picture(self, library, file, size):  # type: ignore[no-untyped-def]
            return None

    plugins.register_plugin(Optional(), name="optional")
    assert plugins.get_plugin_manager().has_plugin("optional")


def test_check_pending_refuses_only_the_plugin_with_an_unknown_hook(
    monkeypatch: pytest.MonkeyPatch, fresh_plugins: None, caplog: pytest.LogCaptureFixture
) -> None:
    class Typo:
        @hookimpl
        def file_addded(self, library, file):  # type: ignore[no-untyped-def]
            pass

    class Fine:
        @hookimpl
        def file_added(self, library, file):  # type: ignore[no-untyped-def]
            pass

    caplog.set_level(logging.WARNING, logger="printmanager_core.plugins")
    pm = pluggy.PluginManager(plugins.PROJECT)
    pm.add_hookspecs(plugins.hookspecs)
    pm.register(Typo(), name="typo")
    pm.register(Fine(), name="fine")
    plugins._check_pending(pm)
    assert not pm.has_plugin("typo") and pm.has_plugin("fine")
    [problem] = plugins.plugin_problems()
    assert (problem.plugin, problem.where) == ("typo", "load")
    assert problem.error == "PluginValidationError: unknown hook 'file_addded' in plugin 'typo'"


def test_trace_plugins_env_writes_hook_calls_to_stderr(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "cube.off").write_text(CUBE_OFF)
    env = {**os.environ, "PRINTMANAGER_LIBRARY": str(tmp_path / "lib")}

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "printmanager_core", *args], env={**env, **extra},
                              capture_output=True, text=True, timeout=300)

    quiet = run("scan", str(models), "--no-thumbnails", "--json")
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    (models / "cube.off").write_text(CUBE_OFF + "\n")
    traced = run("scan", "--no-thumbnails", "--json", PRINTMANAGER_TRACE_PLUGINS="1")
    assert traced.returncode == 0, traced.stderr
    assert json.loads(traced.stdout)["updated"] == 1  # stdout stays the command's own
    err = traced.stderr
    # hooks pluggy calls (the historic add_hookspecs) and hooks the core calls one plugin at a time
    assert "add_hookspecs [hook]" in err and "plugin_manager: <printmanager_core.plugin_manager.PluginManager" in err
    assert "register_settings in plugin 'thumbnails' [hook]" in err  # (a core command alone calls no register_commands)
    assert "register_readers in plugin 'printmanager_core.readers.off' [hook]" in err
    assert "scan_finished in plugin 'thumbnails' [hook]" in err
    assert "finish scan_finished --> None [hook]" in err
    assert "Traceback" not in err
    assert run("ls", PRINTMANAGER_TRACE_PLUGINS="0").stderr == ""


def test_trace_plugins_shows_a_hook_that_raises(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fresh_plugins: None
) -> None:
    class Raising:
        @hookimpl
        def file_added(self, library, file):  # type: ignore[no-untyped-def]
            raise RuntimeError("no index")

    monkeypatch.setenv("PRINTMANAGER_TRACE_PLUGINS", "1")
    plugins.reset_plugin_manager()
    plugins.register_plugin(Raising(), name="raising")
    capsys.readouterr()
    assert plugins.call_hook_safely("file_added", library=None, file="x.stl") == []
    err = capsys.readouterr().err
    assert "  file_added in plugin 'raising' [hook]\n      library: None\n      file: x.stl\n" in err
    assert "  failed file_added --> RuntimeError: no index [hook]\n" in err


def test_installed_plugins_outside_load_plugins_are_never_imported(
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
    monkeypatch.delitem(sys.modules, "printmanager_off", raising=False)
    plugins.reset_plugin_manager()  # the test run's PRINTMANAGER_LOAD_PLUGINS: our own plugins only
    pm = plugins.get_plugin_manager()
    assert "printmanager_off" not in sys.modules and not pm.has_plugin("off")
    assert not pm.is_blocked("off")  # held back only while pluggy's loader ran
    assert {"thumbnails", "vault", "sync"} <= {pm.get_name(p) for p, _ in pm.list_plugin_distinfo()}
    assert plugins.get_plugin_manager() is pm  # loaded once
    # named in PRINTMANAGER_LOAD_PLUGINS, it loads through the same loader
    monkeypatch.setenv("PRINTMANAGER_LOAD_PLUGINS", "thumbnails,vault,sync,off")
    plugins.reset_plugin_manager()
    dists = {plugins.get_plugin_manager().get_name(p): d.project_name
             for p, d in plugins.get_plugin_manager().list_plugin_distinfo()}
    assert dists["off"] == "printmanager-off" and dists["thumbnails"] == "printmanager"


def test_installed_names_from_folder_names_match_every_distributions_metadata():
    """The quick walk over metadata folder names finds exactly the projects importlib knows."""
    from importlib import metadata

    from printmanager_core import plugin_extras

    plugin_extras._installed_names.cache_clear()
    quick = plugin_extras._installed_names()
    full = frozenset(plugin_extras._normal(d.metadata["Name"] or "") for d in metadata.distributions())
    assert quick == full
    assert {"printmanager", "sqlite-utils", "pluggy"} <= quick
