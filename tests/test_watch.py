"""``printmanager watch``: a real watcher process over a real folder, checked through ``ls --json``."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest

pytest.importorskip("watchfiles")  # in the test extra: present in CI

EXE = Path(sys.executable).with_name("printmanager")


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRINTMANAGER_")}
    env.update(PRINTMANAGER_LIBRARY=str(home / "library"), XDG_DATA_HOME=str(home / "data"),
               XDG_CONFIG_HOME=str(home / "config"), XDG_CACHE_HOME=str(home / "cache"))
    return env


def _files(home: Path) -> list[dict[str, Any]]:
    result = subprocess.run([str(EXE), "ls", "--json"], env=_env(home), capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _until(what: str, check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def _by_name(home: Path, name: str) -> list[dict[str, Any]]:
    return [f for f in _files(home) if Path(f["path"]).name == name]


@pytest.mark.timeout(30)
def test_watch_catalogues_moves_and_deletes_then_stops_on_ctrl_c(tmp_path: Path, corpus: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    root = tmp_path / "root"
    (root / ".hidden").mkdir(parents=True)
    proc = subprocess.Popen([str(EXE), "watch", str(root), "--json", "--debounce", "150", "--no-thumbnails"],
                            env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # the catch-up scan's line comes first: the watcher is live by then
        first = json.loads(proc.stdout.readline())
        assert first["batch"] == 0 and first["added"] == 0
        assert [r["path"] for r in json.loads(subprocess.run(
            [str(EXE), "roots", "--json"], env=_env(home), capture_output=True, text=True, timeout=30).stdout
        )] == [str(root.resolve())]

        # a file copied in is catalogued
        shutil.copyfile(corpus / "uranium" / "simpleTestCubeBinary.stl", root / "cube.stl")
        shutil.copyfile(corpus / "uranium" / "simpleTestCubeBinary.stl", root / ".hidden" / "cube-hidden.stl")
        (added,) = _until("the copied file", lambda: _by_name(home, "cube.stl"))
        assert added["path"] == str(root.resolve() / "cube.stl") and added["format"] == "stl"
        assert not added.get("missing")

        # moved into a subfolder: the same file, at its new path
        (root / "parts").mkdir()
        os.rename(root / "cube.stl", root / "parts" / "cube.stl")
        moved = _until("the move", lambda: [f for f in _by_name(home, "cube.stl")
                                            if f["path"] == str(root.resolve() / "parts" / "cube.stl")])
        assert [f["id"] for f in moved] == [added["id"]]

        # deleted: gone from the catalogue's present files
        (root / "parts" / "cube.stl").unlink()
        _until("the delete", lambda: not _by_name(home, "cube.stl"))
        # the hidden folder was never catalogued
        assert not _by_name(home, "cube-hidden.stl")

    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    # one JSON line per batch (a copy may come as two: added, then updated)
    batches = [json.loads(line) for line in _out.splitlines()]
    assert batches and all(set(b) >= {"batch", "changes", "added", "updated", "moved", "missing"} for b in batches)
    assert [b["batch"] for b in batches] == list(range(1, len(batches) + 1))
    assert sum(b["added"] for b in batches) == 1
    assert sum(b["moved"] for b in batches) == 1 and sum(b["missing"] for b in batches) == 1


def test_watch_without_a_root_is_a_one_line_usage_error(tmp_path: Path) -> None:
    result = subprocess.run([str(EXE), "watch"], env=_env(tmp_path), capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "give a folder to watch; the library has no roots yet" in result.stderr
    assert "Traceback" not in result.stderr


def test_plan_batch_rescans_deleted_folders_first_and_skips_paths_outside_roots(tmp_path: Path) -> None:
    from watchfiles import Change

    from printmanager_core.cli.watch_cmd import plan_batch

    root = tmp_path / "root"
    (root / "a" / "new").mkdir(parents=True)
    (root / "a" / "new" / "x.stl").write_bytes(b"solid x\nendsolid x\n")
    (root / "b.stl").write_bytes(b"solid b\nendsolid b\n")
    outside = tmp_path / "elsewhere.stl"
    outside.write_bytes(b"")
    changes = {
        (Change.deleted, str(root / "gone" / "deep" / "y.stl")),  # its folders are gone too: the root is rescanned
        (Change.deleted, str(root / "a" / "old.stl")),  # inside the root's rescan already
        (Change.added, str(root / "a" / "new")),
        (Change.added, str(root / "a" / "new" / "x.stl")),  # inside an added folder
        (Change.modified, str(root / "b.stl")),
        (Change.added, str(outside)),
    }
    folders, paths = plan_batch(changes, [str(root)])
    assert folders == [str(root)] and paths == []  # everything is below the rescanned root

    folders, paths = plan_batch({c for c in changes if "gone" not in c[1]}, [str(root)])
    assert folders == [str(root / "a")]
    assert paths == [str(root / "b.stl")]

    folders, paths = plan_batch({c for c in changes if c[0] != Change.deleted}, [str(root)])
    assert folders == [] and paths == [str(root / "a" / "new"), str(root / "b.stl")]
    # a path reported added that is gone again by now counts as deleted
    folders, paths = plan_batch({(Change.added, str(root / "a" / "flash.stl"))}, [str(root)])
    assert folders == [str(root / "a")] and paths == []


def test_watch_ignores_a_library_inside_its_root_and_prints_a_line_per_batch(tmp_path: Path, corpus: Path) -> None:
    import queue
    import threading

    root = tmp_path / "root"
    root.mkdir()
    env = _env(tmp_path)
    env["PRINTMANAGER_LIBRARY"] = str(root / "library")  # the library's own writes must not look like changes
    proc = subprocess.Popen([str(EXE), "watch", str(root), "--debounce", "100", "--no-thumbnails"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    try:
        assert lines.get(timeout=10).startswith("catch-up scan: 0 added")
        shutil.copyfile(corpus / "uranium" / "simpleTestCubeBinary.stl", root / "cube.stl")
        seen = lines.get(timeout=10)
        assert " change" in seen and ("1 added" in seen or "0 added" in seen), seen
        got = [seen]
        while "1 added" not in "".join(got):
            got.append(lines.get(timeout=10))
        # the scan's own writes to root/library are no batch: nothing more comes
        with pytest.raises(queue.Empty):
            lines.get(timeout=1.0)
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert err.strip().startswith("stopped watching")


@pytest.mark.timeout(40)
def test_watch_without_roots_follows_roots_added_and_removed_while_it_runs(tmp_path: Path, corpus: Path) -> None:
    import queue
    import threading

    from printmanager_core import Library

    home = tmp_path / "home"
    home.mkdir()
    first, second, third = (tmp_path / n for n in ("first", "second", "third"))
    for folder in (first, second, third):
        folder.mkdir()
    cube = corpus / "uranium" / "simpleTestCubeBinary.stl"
    shutil.copyfile(cube, third / "waiting.stl")  # there before its root is added: the catch-up scan finds it
    model = first / "Nut"
    model.mkdir()
    shutil.copyfile(cube, model / "nut.stl")
    (model / "datapackage.json").write_text('{"title": "Nut",}')  # a sidecar that cannot be used: a problem
    library = home / "library"  # the watcher's (see _env); read and changed here too, as another process would

    def sidecar_problems() -> list[str]:
        with Library(library) as lib:
            return [p.detail for p in lib.problems(kinds=["sidecar-unreadable"])]

    with Library(library) as lib:
        lib.scan([first], workers=1, thumbnails=False)
    assert [d.split(":")[0] for d in sidecar_problems()] == ["skipped"]

    def cli(*args: str) -> None:
        done = subprocess.run([str(EXE), *args], env=_env(home), capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr

    proc = subprocess.Popen([str(EXE), "watch", "--json", "--debounce", "100", "--no-thumbnails"],
                            env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[dict[str, Any]] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(json.loads(line)) for line in proc.stdout], daemon=True).start()

    def next_line(check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        while True:
            line = lines.get(timeout=10)
            if check(line):
                return line

    try:
        assert next_line(lambda line: True)["batch"] == 0
        # the sidecar fixed while watch runs: its problem goes with the batch that reads it
        (model / ".datapackage.json.tmp").write_text('{"title": "Nut"}')
        os.replace(model / ".datapackage.json.tmp", model / "datapackage.json")
        next_line(lambda line: "batch" in line)
        assert sidecar_problems() == []

        # a root added by a scan of a new folder (`scan NEW_ROOT`) while watch runs: watched from then on
        with Library(library) as lib:
            lib.scan([second], workers=1, thumbnails=False)
        said = next_line(lambda line: "change" in line)
        assert said == {"root": str(second.resolve()), "change": "added", "watching": 2}
        catch_up = next_line(lambda line: "batch" in line)
        assert catch_up["root"] == str(second.resolve())
        assert (catch_up["changes"], catch_up["added"]) == (0, 0)  # the scan had it all already
        shutil.copyfile(cube, second / "cube.stl")
        next_line(lambda line: line.get("added") == 1)

        # `roots add` does not scan: the watcher's catch-up scan of it does
        cli("roots", "add", str(third))
        assert next_line(lambda line: "change" in line) == {
            "root": str(third.resolve()), "change": "added", "watching": 3}
        catch_up = next_line(lambda line: "batch" in line)
        assert (catch_up["root"], catch_up["added"]) == (str(third.resolve()), 1)

        # a root removed is no longer watched; the others still are
        with Library(library) as lib:
            lib.remove_root(str(second))
        assert next_line(lambda line: "change" in line) == {
            "root": str(second.resolve()), "change": "removed", "watching": 2}
        shutil.copyfile(cube, second / "after.stl")
        shutil.copyfile(cube, first / "still.stl")
        next_line(lambda line: line.get("added") == 1)
        with Library(library) as lib:
            names = {Path(f.path).relative_to(tmp_path).as_posix() for f in lib.files()}
        assert names == {"first/Nut/datapackage.json", "first/Nut/nut.stl", "first/still.stl",
                         "third/waiting.stl"}  # second's files left with it
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, err
    assert "Traceback" not in err
