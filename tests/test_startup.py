"""Start-up: what ``printmanager ls`` imports, and the lazily registered built-in readers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from printmanager_core import plugins
from printmanager_core.readers.registered import get_readers, reader_for

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
