"""Catalogue events and the command hook, exercised by a real plugin during real scans."""

from __future__ import annotations

import shutil
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from printmanager_core import Library, hookimpl, plugins


class Recorder:
    """A plugin that records every catalogue event it sees."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, bool]] = []
        self.reports: list[dict] = []

    @hookimpl
    def file_added(self, library, file):  # type: ignore[no-untyped-def]
        self.events.append(("added", Path(file.path).name, file.missing))

    @hookimpl
    def file_changed(self, library, file):  # type: ignore[no-untyped-def]
        self.events.append(("changed", Path(file.path).name, file.missing))

    @hookimpl
    def file_removed(self, library, file):  # type: ignore[no-untyped-def]
        self.events.append(("removed", Path(file.path).name, file.missing))

    @hookimpl
    def scan_finished(self, library, report, options):  # type: ignore[no-untyped-def]
        self.reports.append(report.as_json() | {"changed_ids": list(report.changed_ids),
                                                "thumbnails": options.thumbnails})


@pytest.fixture
def recorder():
    rec = Recorder()
    plugins.register_plugin(rec, name="recorder")
    yield rec
    plugins.unregister_plugin("recorder")


@pytest.fixture
def folder(tmp_path: Path, corpus: Path) -> Path:
    root = tmp_path / "prints" / "Benchy"
    root.mkdir(parents=True)
    for name in ("Wheel.stl", "Window.stl"):
        shutil.copyfile(corpus / "Benchy multi-part" / name, root / name)
    return tmp_path / "prints"


def test_file_added_is_called_once_per_new_file(library: Library, folder: Path, recorder: Recorder) -> None:
    library.scan([folder])
    assert sorted(recorder.events) == [("added", "Wheel.stl", False), ("added", "Window.stl", False)]
    library.scan([folder])
    assert len(recorder.events) == 2  # unchanged files raise no events


def test_file_changed_on_move_and_on_new_content(library: Library, folder: Path, recorder: Recorder) -> None:
    library.scan([folder])
    recorder.events.clear()
    (folder / "Benchy" / "Wheel.stl").rename(folder / "Benchy" / "Paddle.stl")
    library.scan([folder])
    assert recorder.events == [("changed", "Paddle.stl", False)]
    recorder.events.clear()
    with open(folder / "Benchy" / "Window.stl", "ab") as fh:
        fh.write(b"\0")
    library.scan([folder])
    assert recorder.events == [("changed", "Window.stl", False)]


def test_file_changed_after_an_edit_of_tags_or_notes(library: Library, folder: Path, recorder: Recorder) -> None:
    library.scan([folder])
    recorder.events.clear()
    wheel = next(f for f in library.files() if f.path.endswith("Wheel.stl"))
    library.tag(wheel.id, "gift")
    library.untag(wheel.id, "gift")
    library.set_file_notes(wheel.id, "print in PETG")
    assert recorder.events == [("changed", "Wheel.stl", False)] * 3
    library.tag_model(wheel.model_id, "boat")  # a model's tags are not a file's change
    assert len(recorder.events) == 3


def test_file_removed_marks_missing(library: Library, folder: Path, recorder: Recorder) -> None:
    library.scan([folder])
    recorder.events.clear()
    (folder / "Benchy" / "Window.stl").unlink()
    library.scan([folder])
    assert recorder.events == [("removed", "Window.stl", True)]


def test_scan_finished_gets_the_report(library: Library, folder: Path, recorder: Recorder) -> None:
    library.scan([folder], thumbnails=False)
    (report,) = recorder.reports
    assert report["added"] == 2 and report["thumbnails"] is False
    assert sorted(report["changed_ids"]) == sorted(f.id for f in library.files())


def test_register_commands_adds_a_working_command(tmp_path: Path) -> None:
    from printmanager_core.cli import LibraryContext, pass_library

    class HelloPlugin:
        @hookimpl
        def register_commands(self, cli):  # type: ignore[no-untyped-def]
            @cli.command("hello")
            @pass_library
            def hello(state):  # type: ignore[no-untyped-def]
                click.echo(f"{len(state.library.files())} files in {state.library.directory.name}")

    @click.group()
    @click.pass_context
    def group(ctx: click.Context) -> None:
        ctx.obj = LibraryContext(tmp_path / "mylib")
        ctx.call_on_close(ctx.obj.close)

    plugins.register_plugin(HelloPlugin(), name="hello")
    try:
        plugins.get_plugin_manager().hook.register_commands(cli=group)
        assert {"hello", "scan", "ls", "plugins"} <= set(group.commands)
        result = CliRunner().invoke(group, ["hello"])
        assert result.exit_code == 0, result.output
        assert result.output.strip() == "0 files in mylib"
    finally:
        plugins.unregister_plugin("hello")
