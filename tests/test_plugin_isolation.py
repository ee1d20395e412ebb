"""A plugin that fails to load, or whose hook raises, is named once, recorded and stepped around.

A real distribution of misbehaving plugins is installed with pip (``--target``)
and the real ``printmanager`` runs beside it in new processes: ``--help``,
``--version``, ``plugins``, ``scan``. The in-process tests pin down the
mechanism (:func:`printmanager_core.plugins.call_hook_safely` and friends).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from printmanager_core import Library, hookimpl, plugins
from printmanager_core.readers import get_readers

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "examples" / "models"
OURS = "thumbnails,vault,sync"

MODULES = {
    # fails to import: a dependency is missing
    "pm_bad_import": "import printmanager_test_dependency_that_is_not_installed\n",
    # any exception at import
    "pm_bad_boom": "raise RuntimeError('settings file\\nis missing')\n",
    # even sys.exit() at import
    "pm_bad_exit": "import sys\nsys.exit(3)\n",
    # a typo in a hook name: pluggy refuses the plugin
    "pm_bad_spec": """
        from printmanager_core import hookimpl

        @hookimpl
        def file_addded(library, file):
            pass
    """,
    # loads fine; its hooks raise
    "pm_bad_hooks": """
        import click
        from printmanager_core import hookimpl

        class Reader:
            name = "badfmt"
            extensions = (".stl",)

            def read(self, source):
                raise AssertionError("never used: the plugin's register_readers failed")

        @hookimpl
        def register_readers(register):
            register(Reader())
            raise KeyError("reader table")

        @hookimpl
        def register_commands(cli):
            @cli.command("bad-half-added")
            def half():
                pass
            raise ValueError("command table")

        @hookimpl
        def file_added(library, file):
            raise RuntimeError(f"cannot index {file.name}")

        @hookimpl
        def scan_finished(library, report):
            raise ZeroDivisionError("division by zero")
    """,
    # needs its extra, which is not installed: off, not failed
    "pm_needs_extra": "import printmanager_absent_dependency_for_tests\n",
    # a well-behaved plugin: it still runs beside the others
    "pm_good": """
        import os
        import click
        from printmanager_core import hookimpl

        @hookimpl
        def register_commands(cli):
            @cli.command("good-hello")
            def hello():
                click.echo("hello from a good plugin")

        @hookimpl
        def file_added(library, file):
            with open(os.environ["PM_GOOD_LOG"], "a") as log:
                log.write(file.name + "\\n")

        @hookimpl
        def scan_finished(library, report):
            with open(os.environ["PM_GOOD_LOG"], "a") as log:
                log.write(f"finished {report.added}\\n")
    """,
}
ENTRY_POINTS = {
    "bad_import": "pm_bad_import",
    "bad_boom": "pm_bad_boom",
    "bad_exit": "pm_bad_exit",
    "bad_spec": "pm_bad_spec",
    "bad_hooks": "pm_bad_hooks",
    "needsextra": "pm_needs_extra",
    "good": "pm_good",
}
LOAD_FAILURES = {"bad_import": "ModuleNotFoundError", "bad_boom": "RuntimeError: settings file is missing",
                 "bad_exit": "SystemExit: 3", "bad_spec": "unknown hook 'file_addded'"}
ALL = ",".join([OURS, *ENTRY_POINTS])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The misbehaving plugins, built and installed by pip like any third-party plugin."""
    tmp = tmp_path_factory.mktemp("misbehaving")
    src = tmp / "src"
    src.mkdir()
    for module, code in MODULES.items():
        (src / f"{module}.py").write_text(textwrap.dedent(code))
    eps = "\n".join(f'{name} = "{module}"' for name, module in ENTRY_POINTS.items())
    (src / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [build-system]
        requires = ["setuptools>=69"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "printmanager-misbehaving"
        version = "0.3.0"

        [project.optional-dependencies]
        needsextra = ["printmanager-absent-dependency-for-tests>=1", "click>=7"]

        [project.entry-points.printmanager]
        """) + eps + "\n\n[tool.setuptools]\npy-modules = [" + ", ".join(f'"{m}"' for m in MODULES) + "]\n")
    target = tmp / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(src)], check=True, capture_output=True, timeout=300)
    return target


def _env(site: Path, tmp: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONPATH=os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH")) if p),
               PRINTMANAGER_LOAD_PLUGINS=ALL, PRINTMANAGER_LIBRARY=str(tmp / "library"),
               PM_GOOD_LOG=str(tmp / "good.log"))
    env.pop("PRINTMANAGER_BLOCK_PLUGINS", None)
    env.update(extra)
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "printmanager_core", *args], env=env, capture_output=True,
                          text=True, timeout=300)


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning: plugin ")]


def _assert_one_line_per_load_failure(stderr: str) -> None:
    lines = _warnings(stderr)
    for name, error in LOAD_FAILURES.items():
        mine = [line for line in lines if line.startswith(f"warning: plugin '{name}' failed to load")]
        assert len(mine) == 1, (name, stderr)
        assert error in mine[0] and mine[0].endswith(f"PRINTMANAGER_BLOCK_PLUGINS={name}"), mine[0]
    assert "Traceback" not in stderr


def test_help_and_version_survive_plugins_that_fail(site: Path, tmp_path: Path) -> None:
    env = _env(site, tmp_path)
    result = _cli(env, "--help")
    assert result.returncode == 0, result.stderr
    _assert_one_line_per_load_failure(result.stderr)
    # register_commands raised: named, and the command it had half added is gone
    [line] = [w for w in _warnings(result.stderr) if "'bad_hooks' failed in register_commands" in w]
    assert "ValueError: command table" in line and line.endswith("PRINTMANAGER_BLOCK_PLUGINS=bad_hooks")
    assert "bad-half-added" not in result.stdout
    assert "needsextra plugin off: install 'printmanager-misbehaving[needsextra]' (needs " \
           "printmanager-absent-dependency-for-tests)" in " ".join(result.stdout.split())
    assert "needsextra" not in result.stderr  # off is not a warning
    listed = {line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ") and line.strip()}
    assert {"scan", "ls", "plugins", "thumbnail", "sync", "secrets", "good-hello"} <= listed

    version = _cli(env, "--version")
    assert version.returncode == 0 and "0.1.0" in version.stdout
    hello = _cli(env, "good-hello")
    assert hello.returncode == 0 and hello.stdout == "hello from a good plugin\n"


def test_help_and_version_work_when_the_library_folder_is_unusable(site: Path, tmp_path: Path) -> None:
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("not a library")
    cases = [(not_a_folder, ["--help"]), (not_a_folder, ["--version"]), (not_a_folder / "below", ["ls", "--help"]),
             (Path("/proc/printmanager-cannot-be-here"), ["--library", "/proc/printmanager-cannot-be-here", "--help"])]
    for library, args in cases:
        result = _cli(_env(site, tmp_path, PRINTMANAGER_LIBRARY=str(library)), *args)
        assert result.returncode == 0, (library, args, result.stderr)
        assert result.stdout
        _assert_one_line_per_load_failure(result.stderr)
    assert not_a_folder.read_text() == "not a library"


def test_plugins_lists_what_failed_and_why(site: Path, tmp_path: Path) -> None:
    env = _env(site, tmp_path)
    result = _cli(env, "plugins", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    for name, error in LOAD_FAILURES.items():
        assert rows[name]["status"] == "failed"
        assert error in rows[name]["error"]
        assert rows[name]["distribution"] == "printmanager-misbehaving"
        assert rows[name]["version"] == "0.3.0"
    bad = rows["bad_hooks"]
    assert bad["status"] == "on"
    assert {e["where"] for e in bad["errors"]} == {"register_commands", "register_readers"}
    assert rows["good"]["status"] == "on" and rows["good"]["errors"] == []
    assert rows["thumbnails"]["status"] == "on"
    # a plugin package's own extra, named like its entry point: off until installed
    off = rows["needsextra"]
    assert off["status"] == "off" and off["errors"] == [] and "error" not in off
    assert off["install"] == "printmanager-misbehaving[needsextra]"
    assert off["needs"] == ["printmanager-absent-dependency-for-tests"]  # click is there
    assert "'needsextra'" not in result.stderr

    text = _cli(env, "plugins")
    assert "bad_boom 0.3.0  (failed to load: RuntimeError: settings file is missing; " \
           "PRINTMANAGER_BLOCK_PLUGINS=bad_boom turns it off)" in text.stdout
    assert "    error in register_readers: KeyError: 'reader table'" in text.stdout


def test_scan_goes_on_when_a_hook_raises(site: Path, tmp_path: Path) -> None:
    env = _env(site, tmp_path)
    result = _cli(env, "scan", str(MODELS), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["added"] > 1 and report["errors"] == 0 and not report["interrupted"]
    lines = _warnings(result.stderr)
    added = [line for line in lines if "'bad_hooks' failed in file_added" in line]
    finished = [line for line in lines if "'bad_hooks' failed in scan_finished" in line]
    assert len(added) == 1, result.stderr  # one line, however many files
    assert "RuntimeError: cannot index" in added[0] and added[0].endswith("PRINTMANAGER_BLOCK_PLUGINS=bad_hooks")
    assert len(finished) == 1 and "ZeroDivisionError: division by zero" in finished[0]

    # every file is catalogued, read by the built-in reader (the bad plugin's reader was stepped around)
    listed = json.loads(_cli(env, "ls", "--json").stdout)
    assert len(listed) == report["added"]
    assert {f["format"] for f in listed if f["path"].lower().endswith(".stl")} == {"stl"}
    # the good plugin saw every file and the end of the scan; thumbnails were still made
    log = (tmp_path / "good.log").read_text().splitlines()
    assert len([line for line in log if not line.startswith("finished")]) == report["added"]
    assert f"finished {report['added']}" in log
    assert json.loads(_cli(env, "ls", "has:thumbnail", "--json").stdout)


def test_blocking_the_named_plugins_silences_them(site: Path, tmp_path: Path) -> None:
    env = _env(site, tmp_path, PRINTMANAGER_BLOCK_PLUGINS="bad_import,bad_boom,bad_exit,bad_spec,bad_hooks")
    for args in (["--help"], ["scan", str(MODELS)]):
        result = _cli(env, *args)
        assert result.returncode == 0, result.stderr
        assert result.stderr == "", result.stderr
    rows = {row["name"]: row for row in json.loads(_cli(env, "plugins", "--json").stdout)}
    assert not {"bad_import", "bad_hooks"} & set(rows) and rows["good"]["status"] == "on"


# -- the mechanism, in-process -------------------------------------------------------------


@pytest.fixture
def fresh_plugins():
    plugins.reset_plugin_manager()
    yield
    plugins.reset_plugin_manager()


class Raising:
    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def file_added(self, library, file):  # type: ignore[no-untyped-def]
        self.calls += 1
        raise RuntimeError("first plugin down")


class Recording:
    def __init__(self) -> None:
        self.added: list[str] = []
        self.changed: list[str] = []
        self.removed: list[str] = []

    @hookimpl
    def file_added(self, library, file):  # type: ignore[no-untyped-def]
        self.added.append(file.name)

    @hookimpl
    def file_changed(self, library, file):  # type: ignore[no-untyped-def]
        self.changed.append(file.name)

    @hookimpl
    def file_removed(self, library, file):  # type: ignore[no-untyped-def]
        self.removed.append(file.name)


class RaisingOnEveryEvent:
    @hookimpl
    def file_changed(self, library, file):  # type: ignore[no-untyped-def]
        raise OSError("disk full")

    @hookimpl
    def file_removed(self, library, file):  # type: ignore[no-untyped-def]
        raise LookupError("gone")


def test_call_hook_safely_runs_the_others_and_warns_once(
    fresh_plugins: None, caplog: pytest.LogCaptureFixture
) -> None:
    recording, raising = Recording(), Raising()
    plugins.register_plugin(recording, name="recording")
    plugins.register_plugin(raising, name="raising")  # registered last: pluggy calls it first
    caplog.set_level(logging.WARNING, logger="printmanager_core.plugins")
    file = type("F", (), {"name": "x.stl"})()
    for _ in range(3):
        plugins.call_hook_safely("file_added", library=None, file=file)
    assert raising.calls == 3 and recording.added == ["x.stl"] * 3
    [problem] = plugins.plugin_problems()
    assert (problem.plugin, problem.where, problem.count) == ("raising", "file_added", 3)
    assert problem.error == "RuntimeError: first plugin down"
    lines = [r.getMessage() for r in caplog.records if r.name == "printmanager_core.plugins"]
    assert lines == [
        "plugin 'raising' failed in file_added (RuntimeError: first plugin down); stepped around. "
        "To turn it off: PRINTMANAGER_BLOCK_PLUGINS=raising"
    ]
    row = {r["name"]: r for r in plugins.list_plugins()}["raising"]
    assert row["errors"] == [problem.as_json()]


def test_call_hook_safely_lets_keyboard_interrupt_through(fresh_plugins: None) -> None:
    class Interrupting:
        @hookimpl
        def scan_finished(self, library, report):  # type: ignore[no-untyped-def]
            raise KeyboardInterrupt

    plugins.register_plugin(Interrupting(), name="interrupting")
    with pytest.raises(KeyboardInterrupt):
        plugins.call_hook_safely("scan_finished", library=None, report=None)
    assert plugins.plugin_problems() == []


def test_scan_events_go_on_when_a_plugin_raises(fresh_plugins: None, tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    for name in ("Wheel.stl", "Chimney body.stl", "Cargo box.stl"):
        (models / name).write_bytes((MODELS / "3DBenchy parts" / name).read_bytes())
    recording = Recording()
    plugins.register_plugin(recording, name="recording")
    plugins.register_plugin(Raising(), name="raising")
    plugins.register_plugin(RaisingOnEveryEvent(), name="every-event")
    with Library(tmp_path / "lib") as lib:
        report = lib.scan([models], workers=1, thumbnails=False)
        assert report.added == 3 and sorted(recording.added) == sorted(f.name for f in lib.files())
        (models / "Wheel.stl").write_bytes((MODELS / "3DBenchy parts" / "Wheel.stl").read_bytes() + b"\n")
        (models / "Cargo box.stl").unlink()
        report = lib.scan(workers=1, thumbnails=False)
        assert (report.updated, report.missing) == (1, 1)
        assert recording.changed == ["Wheel.stl"] and recording.removed == ["Cargo box.stl"]
        assert len(lib.files()) == 2
    where = {(p.plugin, p.where) for p in plugins.plugin_problems()}
    assert where == {("raising", "file_added"), ("every-event", "file_changed"), ("every-event", "file_removed")}


def test_register_hook_that_raises_leaves_no_half_registration(fresh_plugins: None) -> None:
    class HalfReader:
        @hookimpl
        def register_readers(self, register):  # type: ignore[no-untyped-def]
            register(type("R", (), {"name": "half", "extensions": (".half",), "read": None})())
            register(type("R", (), {"name": "stl", "extensions": (".stl",), "read": None})())
            raise RuntimeError("table incomplete")

    class Nameless:
        @hookimpl
        def register_readers(self, register):  # type: ignore[no-untyped-def]
            register(object())  # no .name: the core's name_of cannot read it

    plugins.register_plugin(HalfReader(), name="half")
    plugins.register_plugin(Nameless(), name="nameless")
    registry = get_readers()
    assert "half" not in registry and registry.entries["stl"].plugin == "printmanager_core.readers.stl"
    assert all(c.plugin not in ("half", "nameless") for c in registry.clashes)
    assert {p.plugin: p.where for p in plugins.plugin_problems()} == {
        "half": "register_readers", "nameless": "register_readers"}


def test_a_plugin_failing_at_load_is_recorded_in_process(
    site: Path, monkeypatch: pytest.MonkeyPatch, fresh_plugins: None
) -> None:
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PRINTMANAGER_LOAD_PLUGINS", ALL)
    rows = {row["name"]: row for row in plugins.list_plugins()}
    assert {n for n, r in rows.items() if r["status"] == "failed"} == set(LOAD_FAILURES)
    assert {p.plugin for p in plugins.plugin_problems() if p.where == "load"} == set(LOAD_FAILURES)
    # what did load works: our plugins and the good one
    assert {"thumbnails", "vault", "sync", "good", "bad_hooks"} <= {n for n, r in rows.items() if r["status"] == "on"}
    for name in LOAD_FAILURES:
        assert not plugins.get_plugin_manager().has_plugin(name)


def test_export_names_a_plugin_that_raises_and_writes_nothing(fresh_plugins: None, tmp_path: Path) -> None:
    from printmanager_core.errors import PrintManagerError
    from printmanager_core.privacy.export import export_library

    class BrokenExport:
        @hookimpl
        def export_user_data(self, library, export):  # type: ignore[no-untyped-def]
            raise AttributeError("'NoneType' object has no attribute 'rows'")

    plugins.register_plugin(BrokenExport(), name="broken-export")
    dest = tmp_path / "out" / "export.zip"
    dest.parent.mkdir()
    with Library(tmp_path / "lib") as lib:
        with pytest.raises(PrintManagerError) as err:
            export_library(lib, dest)
        message = str(err.value)
        assert "plugin 'broken-export' failed (AttributeError:" in message and "\n" not in message
        assert message.endswith("PRINTMANAGER_BLOCK_PLUGINS=broken-export")
        assert list(dest.parent.iterdir()) == []
        plugins.unregister_plugin("broken-export")
        assert export_library(lib, dest).path == dest
