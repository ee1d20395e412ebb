"""The light extension → built-in reader module table (``plugins.READER_EXTENSIONS``) and the
``reader_for`` that uses it before the full reader table is built."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from printmanager_core import plugins
from printmanager_core.readers import registered
from printmanager_core.readers.registered import default_table, get_readers, reader_for


@pytest.fixture
def fresh_plugins():
    plugins.reset_plugin_manager()
    yield
    plugins.reset_plugin_manager()


def _names_to_try(corpus: Path) -> list[str]:
    """Every file name of the corpus, and a name for every ending a reader takes, upper-case too."""
    names = sorted({p.name for p in corpus.rglob("*") if p.is_file()})
    names += [f"Part{ext.upper()}" for exts in plugins.READER_EXTENSIONS.values() for ext in exts]
    names += ["plate.gcode.3mf", "PLATE.GCODE.3MF", "a.b.stl", "noext", ".stl", "x.stl.txt", "x.3mf.gcode"]
    return names


def test_the_table_says_what_each_builtin_module_registers(fresh_plugins: None) -> None:
    assert set(plugins.READER_EXTENSIONS) == set(plugins.LAZY_READER_PLUGINS)
    for entry in get_readers():
        declared = plugins.READER_EXTENSIONS[entry.plugin]
        assert all(ext in declared for ext in (e.lower() for e in entry.value.extensions)), entry.name
    taken = {ext for entry in get_readers() for ext in (e.lower() for e in entry.value.extensions)}
    assert taken == {ext for exts in plugins.READER_EXTENSIONS.values() for ext in exts}


def test_the_light_lookup_finds_the_full_tables_reader_for_every_corpus_name(corpus: Path,
                                                                              fresh_plugins: None) -> None:
    names = _names_to_try(corpus)
    light = {name: registered._builtin_reader_for(name) for name in names}  # before the table is built
    assert registered._cached_readers() is None or "table" not in registered._cached_readers().derived
    table = default_table()
    found = 0
    for name in names:
        expected = table.for_name(name)
        assert light[name] is expected, name  # the same reader object, not only the same kind
        found += expected is not None
    assert found >= 30  # the corpus has files of most formats


def test_reader_for_imports_only_the_module_the_name_needs() -> None:
    code = (
        "import sys\n"
        "from printmanager_core.readers import reader_for\n"
        "print(reader_for('part.stl').name)\n"
        "print(sorted(m for m in sys.modules if m.startswith('printmanager_core.readers.')))\n"
        "print('click' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == "stl"
    loaded = {m for m in eval(out[1]) if m in plugins.LAZY_READER_PLUGINS}  # noqa: S307 - our own output
    assert loaded == {"printmanager_core.readers.stl"}
    assert out[2] == "False"  # the commands plugin (and click) waits for the CLI


def test_a_third_party_reader_plugin_is_asked_by_the_full_table(fresh_plugins: None) -> None:
    class Shadow:
        name = "shadow-stl"
        extensions = (".stl",)

        def read(self, source):  # pragma: no cover - never read here
            raise NotImplementedError

    class ShadowPlugin:
        @plugins.hookspecs.hookimpl
        def register_readers(self, register):
            register(Shadow())

    assert registered._builtin_reader_for("part.stl") is not registered._UNSETTLED
    plugins.register_plugin(ShadowPlugin(), name="shadow")
    assert registered._builtin_reader_for("part.stl") is registered._UNSETTLED
    assert reader_for("part.stl").name == "shadow-stl"  # registered later: asked first
    assert reader_for("part.obj").name == "obj"


def test_a_blocked_builtin_module_is_left_out_of_the_light_lookup(monkeypatch: pytest.MonkeyPatch,
                                                                    fresh_plugins: None) -> None:
    monkeypatch.setenv("PRINTMANAGER_BLOCK_PLUGINS", "printmanager_core.readers.ply")
    plugins.reset_plugin_manager()
    assert reader_for("scan.ply") is None
    assert reader_for("part.stl").name == "stl"


def test_registries_built_again_hold_the_same_reader_objects(fresh_plugins: None) -> None:
    first = reader_for("part.stl")
    table = default_table()
    assert table.for_name("part.stl") is first
    plugins.register_plugin(type("Empty", (), {})(), name="empty")  # a new plugin set: built again
    assert default_table() is not table
    assert default_table().for_name("part.stl") is first
    assert default_table().note("part.stl", first) is None


def test_the_commands_plugin_still_adds_the_core_commands(fresh_plugins: None) -> None:
    pm = plugins.get_plugin_manager()
    commands = pm.get_plugin(plugins.COMMANDS_PLUGIN)
    assert isinstance(commands, plugins.LazyCommandsPlugin)
    assert [h.name for h in pm.get_hookcallers(commands) or []] == ["register_commands"]
    import click

    group = click.Group("t")
    commands.register_commands(group)
    from printmanager_core.cli.commands import CORE_COMMANDS

    assert set(CORE_COMMANDS) <= set(group.commands)
