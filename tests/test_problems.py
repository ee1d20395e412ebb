"""Problems as records (docs/problems.md), the looks of ls/problems/show, and a real terminal."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import trimesh

from cli_support import run
from printmanager_core import Library
from printmanager_core.readers.base import Source
from printmanager_core.readers.stl import StlReader
from printmanager_core.errors import UsageError


def _ascii_stl(binary: Path, out: Path) -> None:
    """Write ``binary`` as ASCII STL with float32's 9 significant digits (what a lossless converter does)."""
    mesh = trimesh.load(binary, force="mesh", process=False)
    lines = ["solid converted"]
    for tri in np.asarray(mesh.triangles, dtype=np.float32):
        lines += ["facet normal 0 0 0", "outer loop",
                  *(f"vertex {x:.9g} {y:.9g} {z:.9g}" for x, y, z in tri.tolist()), "endloop", "endfacet"]
    out.write_text("\n".join(lines + ["endsolid converted", ""]))


@pytest.fixture
def folder(tmp_path: Path, corpus: Path) -> Path:
    """Real models: a bunny as binary STL and its ASCII and OBJ conversions, a torus, an empty folder,
    a broken file, an empty STL, and a G-code file whose source is not there."""
    root = tmp_path / "prints"
    (root / "bunny").mkdir(parents=True)
    shutil.copy(corpus / "prusaslicer-shapes" / "bunny.stl", root / "bunny" / "bunny.stl")
    _ascii_stl(root / "bunny" / "bunny.stl", root / "bunny" / "bunny_ascii.stl")
    (root / "bunny copy").mkdir()
    trimesh.load(root / "bunny" / "bunny.stl", force="mesh", process=False).export(root / "bunny copy" / "bunny.obj")
    (root / "torus").mkdir()
    shutil.copy(corpus / "prusaslicer-shapes" / "torus.stl", root / "torus" / "torus.stl")
    (root / "torus" / "torus.png").write_bytes((corpus / "prusaslicer-shapes" / "torus.stl").read_bytes()[:0]
                                               or b"\x89PNG\r\n\x1a\n")
    (root / "nothing here").mkdir()
    (root / "broken").mkdir()
    shutil.copy(corpus / "broken" / "unparseable.stl", root / "broken" / "unparseable.stl")
    shutil.copy(corpus / "broken" / "empty.stl", root / "broken" / "empty.stl")
    shutil.copy(corpus / "broken" / "empty.stl", root / "broken" / "empty_too.stl")
    (root / "sliced").mkdir()
    shutil.copy(corpus / "sliced" / "mini_cube_a.gcode", root / "sliced" / "mini_cube_a.gcode")
    return root


def _kinds(lib: Library) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for p in lib.problems():
        found.setdefault(p.kind, set()).add(Path(p.path).name)
    return found


def test_the_same_mesh_in_another_encoding_has_the_same_fingerprint(folder: Path) -> None:
    binary = StlReader().read(Source.from_path(folder / "bunny" / "bunny.stl"))
    ascii_ = StlReader().read(Source.from_path(folder / "bunny" / "bunny_ascii.stl"))
    assert ascii_.meta["encoding"] == "ascii" and binary.meta["encoding"] == "binary"
    assert binary.geometry_hash and binary.geometry_hash == ascii_.geometry_hash
    moved = trimesh.load(folder / "bunny" / "bunny.stl", force="mesh", process=False)
    moved.apply_translation([0.5, 0, 0])
    moved.export(folder / "moved.stl")
    assert StlReader().read(Source.from_path(folder / "moved.stl")).geometry_hash != binary.geometry_hash


def test_scan_finds_the_problems(folder: Path, tmp_path: Path) -> None:
    with Library(tmp_path / "lib") as lib:
        lib.scan([folder], workers=1, thumbnails=False)
        kinds = _kinds(lib)
        # the ASCII and OBJ bunnies are the binary one in another encoding; empty files are never duplicates
        bunnies = {"bunny.stl", "bunny_ascii.stl", "bunny.obj"}
        assert len(kinds["duplicate"]) == 2 and kinds["duplicate"] < bunnies
        dups = lib.problems(kinds=["duplicate"])
        [original] = {p.other_id for p in dups}
        assert lib.file(original).name in bunnies - kinds["duplicate"]  # the first by path is the original
        assert kinds["inefficient-format"] == {"bunny_ascii.stl"}
        assert {"unparseable.stl", "empty.stl", "empty_too.stl"} <= kinds["unreadable"]
        assert kinds["empty-folder"] == {"nothing here"}
        assert kinds["missing-source"] == {"mini_cube_a.gcode"}
        assert "torus" not in kinds["missing-picture"] and "bunny" in kinds["missing-picture"]
        assert "bunny" in kinds["missing-licence"]
        assert all("same mesh as" in p.detail for p in dups)  # not byte-for-byte: another encoding
        # as query terms, in SQL and in Python alike
        names = {f.name for f in lib.files("problem:duplicate")}
        assert names == kinds["duplicate"]
        every = lib.files()
        assert {f.name for f in every if f.problem_kinds and "duplicate" in f.problem_kinds} == names
        assert {f.id for f in lib.files("has:problem")} == {f.id for f in every if f.problem_kinds}

        # silencing a kind takes it out of queries and the listing at once, without a scan
        lib.settings.set("problems.severity.duplicate", "off")
        assert lib.files("problem:duplicate") == [] and lib.problems(kinds=["duplicate"]) == []
        lib.settings.set("problems.severity.duplicate", "error")
        assert {p.severity for p in lib.problems(kinds=["duplicate"])} == {"error"}
        assert lib.problems(severity="error")[0].severity == "error"

        # a model's licence set: its missing-licence problem goes
        bunny = lib.model(str(folder / "bunny"))
        lib.update_model(bunny.id, licence="CC-BY-4.0")
        assert "bunny" not in _kinds(lib)["missing-licence"]

        # incremental: removing the copy and rescanning forgets its problems, keeps the rest
        (folder / "bunny copy" / "bunny.obj").unlink()
        (folder / "nothing here" / "now.txt").write_text("something")
        lib.scan([folder], workers=1, thumbnails=False)
        kinds = _kinds(lib)
        assert len(kinds["duplicate"]) == 1 and "bunny.obj" not in kinds["duplicate"]
        assert kinds["empty-folder"] == {"bunny copy"}  # "nothing here" has a file now; the copy's folder is empty
        with pytest.raises(UsageError, match="unknown kind"):
            lib.problems(kinds=["nonsense"])


def test_problems_command(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lib = tmp_path / "lib"
    assert run(capsys, lib, "scan", str(folder), "--workers", "1", "--no-thumbnails")[0] == 0
    code, out, err = run(capsys, lib, "problems", "--json")
    assert code == 0 and err == ""
    data = json.loads(out)
    assert {"kind", "severity", "about", "path", "detail", "file_id", "model_id", "other_id"} <= set(data[0])
    assert data[0]["severity"] == "error"  # most severe first
    code, out, _ = run(capsys, lib, "problems", "bunny", "--kind", "duplicate")
    lines = out.splitlines()
    assert len(lines) == 2 and all(line.startswith("warning  duplicate") for line in lines)
    code, out, _ = run(capsys, lib, "problems", "problem:inefficient-format")
    assert [line.split()[1] for line in out.splitlines()] == ["inefficient-format"]
    # settings set refuses what it cannot use, in one line
    code, _, err = run(capsys, lib, "settings", "set", "problems.severity.duplicate", "loud")
    assert code != 0 and err.count("\n") == 1 and "takes one of error, warning, info, off" in err
    code, _, err = run(capsys, lib, "settings", "set", "problems.severity.duplicat", "off")
    assert code != 0 and "did you mean 'problems.severity.duplicate'" in err
    assert run(capsys, lib, "settings", "set", "problems.severity.duplicate", "off")[0] == 0
    code, out, _ = run(capsys, lib, "problems", "--kind", "duplicate")
    assert out == ""


def test_ls_sort_limit_format_paths(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lib = tmp_path / "lib"
    run(capsys, lib, "scan", str(folder), "--workers", "1", "--no-thumbnails")
    code, out, _ = run(capsys, lib, "ls", "format:stl", "--sort", "size-", "--limit", "2", "--format", "{name}|{size}")
    assert code == 0
    _, every, _ = run(capsys, lib, "ls", "format:stl", "--json")
    stls = sorted((f for f in json.loads(every) if f["size_bytes"]), key=lambda f: -f["size_bytes"])
    assert [line.split("|")[0] for line in out.splitlines()] == [f["name"] for f in stls[:2]]
    assert all(line.split("|")[1].endswith(("kB", "MB")) for line in out.splitlines())
    code, out, _ = run(capsys, lib, "ls", "--paths", "sliced")
    assert out.splitlines() == [str(folder / "sliced" / "mini_cube_a.gcode")]
    code, out, _ = run(capsys, lib, "ls", "format:gcode")
    assert "32m" in out and "3.0 g" in out and "MINI" in out  # the sliced facts, for people
    code, _, err = run(capsys, lib, "ls", "--sort", "colour")
    assert code != 0 and "unknown field 'colour'" in err
    code, _, err = run(capsys, lib, "ls", "--format", "{nope}")
    assert code != 0 and "unknown field {nope}" in err
    # the JSON is the same with or without the new options
    _, plain, _ = run(capsys, lib, "ls", "--json")
    _, limited, _ = run(capsys, lib, "ls", "--json", "--limit", "100")
    assert json.loads(plain) == json.loads(limited)


def _pty_run(args: list[str], env: dict[str, str], seconds: float = 60.0) -> str:
    """Run the CLI with stdout and stderr on a real pseudo-terminal; what the terminal got."""
    leader, follower = pty.openpty()
    os.set_blocking(leader, False)
    proc = subprocess.Popen([sys.executable, "-m", "printmanager_core", *args], stdout=follower, stderr=follower,
                            stdin=subprocess.DEVNULL, env=env)
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        data = b""
        if ready:
            try:
                data = os.read(leader, 65536)
            except (OSError, BlockingIOError):
                data = b""  # EIO: the terminal's other side is closed
            chunks.append(data)
        if not data and proc.poll() is not None:
            break
    proc.wait(timeout=10)
    os.close(leader)
    return b"".join(chunks).decode("utf-8", "replace")


def test_in_a_terminal(folder: Path, tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "140", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    lib = str(tmp_path / "lib")
    scan = _pty_run(["--library", lib, "scan", str(folder), "--workers", "1", "--no-thumbnails"], env)
    assert "Reading" in scan and "\x1b[" in scan  # the bar, drawn on the terminal
    assert "added" in scan
    ls = _pty_run(["--library", lib, "ls"], env)
    assert "\x1b[" in ls and ls.rstrip().endswith("files")  # colour, and "N files" at the end
    problems = _pty_run(["--library", lib, "problems"], env)
    assert "\x1b[31" in problems  # errors in red
    show = _pty_run(["--library", lib, "show", str(folder / "bunny" / "bunny.stl")], env)
    assert "triangles" in show and " kB (" in show and "watertight" in show
    no_colour = _pty_run(["--library", lib, "ls"], {**env, "NO_COLOR": "1"})
    assert "\x1b[" not in no_colour
    # what the terminal got (docs/cli-terminal.png is a picture of the same runs)
    (tmp_path / "terminal.txt").write_text(scan + ls + show)
