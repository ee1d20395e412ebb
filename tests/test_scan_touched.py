"""A rescan after files were touched leaves the catalogue a cold scan of the same tree
would: every fact of every file, each file's model, its problems and problem kinds.

The rescan writes only the columns whose value changed (``FilesGateway.update_changed``);
this compares the outcome with a scan of a fresh library, column by column."""

from __future__ import annotations

import os
import shutil
import sqlite3
import zipfile
from pathlib import Path
from typing import Any

from printmanager_core import Library
from printmanager_core.records import SCANNED_COLUMNS

#: what a cold scan gives differently by nature (ids, times of the scan)
_NOT_COMPARED = {"id", "model_id", "scanned_at", "added_at", "problem_kinds"}


def _copy(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return dst


def _catalogue(db: Path) -> dict[str, dict[str, Any]]:
    """Every present file by path: its columns (as stored, with their SQLite types), its
    model's path, its problem kinds (as a set) and its problems (kind, detail)."""
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        out: dict[str, dict[str, Any]] = {}
        for r in con.execute("select files.*, models.path as model_path from files "
                             "left join models on models.id = files.model_id where files.missing = 0"):
            row = {k: (r[k], type(r[k]).__name__) for k in r.keys() if k not in _NOT_COMPARED}
            row["problem_kinds"] = set((r["problem_kinds"] or "").split())
            row["problems"] = sorted((p[0], p[1]) for p in con.execute(
                "select kind, detail from problems where file_id = ?", [r["id"]]))
            out[r["path"]] = row
        return out
    finally:
        con.close()


def _model_problems(db: Path) -> set[tuple[str, str, str]]:
    con = sqlite3.connect(db)
    try:
        return {tuple(r) for r in con.execute(  # type: ignore[misc]
            "select kind, path, detail from problems where file_id is null")}
    finally:
        con.close()


def _models(db: Path) -> dict[str, tuple[int, int]]:
    """Every model by path: (its ``missing``, how many of its files are present)."""
    con = sqlite3.connect(db)
    try:
        return {r[0]: (r[1], r[2]) for r in con.execute(
            "select path, missing, (select count(*) from files where files.model_id = models.id "
            "and files.missing = 0) from models")}
    finally:
        con.close()


def _present_models(db: Path) -> set[str]:
    """The paths of the models not marked missing, after checking that every model is marked
    missing exactly when none of its files is present."""
    models = _models(db)
    assert {p: bool(m) for p, (m, _) in models.items()} == {p: n == 0 for p, (_, n) in models.items()}
    return {p for p, (m, _) in models.items() if not m}


def _touch(path: Path, content: bytes) -> None:
    """Write ``content`` and move the mtime on (a size/mtime pair the scan has not seen)."""
    st = path.stat() if path.exists() else None
    path.write_bytes(content)
    if st is not None:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))



def _scan_then_lose(lib: Library, root: Path, lost: Path) -> bytes:
    """Scan ``root`` into ``lib``, delete ``lost`` and rescan (it goes missing); its bytes."""
    lib.scan([root], thumbnails=False)
    content = lost.read_bytes()
    lost.unlink()
    assert lib.scan(thumbnails=False).missing == 1
    return content

def test_a_touched_rescan_leaves_what_a_cold_scan_does(tmp_path: Path, corpus: Path) -> None:
    root = tmp_path / "Prints"
    benchy = corpus / "Benchy multi-part"
    cube = (corpus / "uranium" / "simpleTestCubeBinary.stl").read_bytes()
    for name in ("Wheel.stl", "Window.stl", "Cargo box.stl", "Chimney body.stl"):
        _copy(benchy / name, root / "Benchy" / name)
    _copy(corpus / "3mf-samples" / "box.3mf", root / "Box" / "box.3mf")
    _copy(corpus / "sliced" / "mini_cube_a.gcode", root / "Cube" / "mini_cube.gcode")
    _copy(corpus / "uranium" / "simpleTestCubeASCII.stl", root / "Cube" / "mini_cube.stl")
    for i in range(6):
        (root / "Tiny" / f"part{i}.stl").parent.mkdir(parents=True, exist_ok=True)
        (root / "Tiny" / f"part{i}.stl").write_bytes(f"part {i}".encode().ljust(80, b" ") + cube[80:])
    with zipfile.ZipFile(root / "Kit.zip", "w") as zf:
        zf.write(benchy / "Wheel.stl", "parts/Wheel.stl")
        zf.write(benchy / "Window.stl", "parts/Window.stl")
    gone_back = _copy(benchy / "Deck surface.stl", root / "Deck" / "Deck surface.stl")

    with Library(tmp_path / "lib") as lib:
        deck = _scan_then_lose(lib, root, gone_back)
        # touched: new content of the same format, another format's content, the same
        # content (a new mtime only), an ASCII STL turned binary, re-headed tiny STLs,
        # a changed archive, a file back where it went missing, a copy (a new duplicate)
        _touch(root / "Benchy" / "Wheel.stl", (benchy / "Stern window.stl").read_bytes())
        _touch(root / "Benchy" / "Window.stl", (corpus / "assimp" / "cube.ply").read_bytes())
        _touch(root / "Benchy" / "Cargo box.stl", (root / "Benchy" / "Cargo box.stl").read_bytes())
        _touch(root / "Cube" / "mini_cube.stl", cube)
        _touch(root / "Cube" / "mini_cube.gcode", (corpus / "sliced" / "cura_torus.gcode").read_bytes())
        _touch(root / "Box" / "box.3mf", (corpus / "3mf-samples" / "cylinder.3mf").read_bytes())
        for i in range(0, 6, 2):
            _touch(root / "Tiny" / f"part{i}.stl", f"touched {i}".encode().ljust(80, b" ") + cube[80:])
        _touch(root / "Tiny" / "part1.stl", (root / "Tiny" / "part3.stl").read_bytes())
        with zipfile.ZipFile(root / "Kit.zip", "w") as zf:
            zf.write(benchy / "Wheel.stl", "parts/Wheel.stl")
            zf.write(benchy / "Bridge walls.stl", "parts/Bridge walls.stl")
        os.utime(root / "Kit.zip", ns=(0, (root / "Kit.zip").stat().st_mtime_ns + 1_000_000_000))
        gone_back.write_bytes(deck)
        report = lib.scan(thumbnails=False)
        assert report.updated >= 12, report
        rescanned = lib.db_path

    with Library(tmp_path / "cold") as cold:
        cold.scan([root], thumbnails=False)
        fresh = cold.db_path

    warm, want = _catalogue(rescanned), _catalogue(fresh)
    assert set(warm) == set(want)
    for path in want:
        assert warm[path] == want[path], path
    assert _model_problems(rescanned) == _model_problems(fresh)
    assert _present_models(rescanned) == _present_models(fresh)
    # the columns compared include every column a scan writes
    assert set(SCANNED_COLUMNS) <= set(next(iter(want.values())))


def test_models_follow_their_files_when_nothing_went_missing(tmp_path: Path, corpus: Path) -> None:
    """A rescan that marks no file missing brings up to date only the models its files were
    written into or out of: a model a file moved out of goes missing, one a file came back
    to is present again, as after a cold scan."""
    root = tmp_path / "Prints"
    benchy = corpus / "Benchy multi-part"
    moved = _copy(benchy / "Wheel.stl", root / "Old home" / "Wheel.stl")
    touched = _copy(benchy / "Window.stl", root / "Kept" / "Window.stl")
    back = _copy(benchy / "Chimney body.stl", root / "Back" / "Chimney body.stl")
    with Library(tmp_path / "lib") as lib:
        chimney = _scan_then_lose(lib, root, back)
        assert _present_models(lib.db_path) == {str(root / "Old home"), str(root / "Kept")}
        (root / "New home").mkdir()
        moved.rename(root / "New home" / "Wheel.stl")
        (root / "Old home").rmdir()
        back.write_bytes(chimney)
        _touch(touched, (benchy / "Stern window.stl").read_bytes())
        report = lib.scan(thumbnails=False)
        assert (report.moved, report.updated, report.missing) == (1, 2, 0), report
        warm = lib.db_path
        with Library(tmp_path / "cold") as cold:
            cold.scan([root], thumbnails=False)
            assert _present_models(warm) == _present_models(cold.db_path) == {
                str(root / "New home"), str(root / "Kept"), str(root / "Back")}
        assert _models(warm)[str(root / "Old home")] == (1, 0)
