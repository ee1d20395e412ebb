"""Roots never overlap, and symlinks never lead a scan out of its root.

Real folders, a real library, the CLI as a real process where it matters.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from printmanager_core import Library
from printmanager_core.scan import SYMLINK_LEAVES_ROOT


@pytest.fixture
def prints(tmp_path: Path, corpus: Path) -> Path:
    """Prints/ with a model folder, and a sub-folder that is itself a collection."""
    root = tmp_path / "Prints"
    benchy = corpus / "Benchy multi-part"
    (root / "Benchy").mkdir(parents=True)
    for name in ("Wheel.stl", "Window.stl"):
        shutil.copyfile(benchy / name, root / "Benchy" / name)
    sub = root / "Calibration"
    (sub / "cubes" / "parts").mkdir(parents=True)
    shutil.copyfile(corpus / "assimp" / "cube.ply", sub / "cubes" / "parts" / "cube.ply")
    shutil.copyfile(corpus / "sliced" / "mini_cube_a.gcode", sub / "cubes" / "mini_cube_a.gcode")
    shutil.copyfile(corpus / "3mf-samples" / "box.3mf", sub / "box.3mf")  # a lone file of the sub-folder
    return root


def _paths(lib: Library) -> dict[str, int]:
    return {f.path: f.id for f in lib.files()}


def test_scanning_a_subfolder_of_a_root_rescans_that_part(library: Library, prints: Path, corpus: Path) -> None:
    first = library.scan([prints], thumbnails=False)
    assert first.added == 5
    before = _paths(library)
    sub = prints / "Calibration"
    again = library.scan([sub], thumbnails=False)  # used to fail: UNIQUE constraint failed: files.path
    assert again.unchanged == 3 and again.added == again.missing == 0
    assert library.roots() == [str(prints)]
    assert _paths(library) == before
    # a new file under the sub-folder, and one outside it: only the sub-folder is walked
    shutil.copyfile(corpus / "assimp" / "box.obj", sub / "cubes" / "box.obj")
    (prints / "Benchy" / "Window.stl").unlink()
    part = library.scan([sub], thumbnails=False)
    assert part.added == 1 and part.missing == 0
    new = library.file(str(sub / "cubes" / "box.obj"))
    assert new.root_id == library.file(before[str(prints / "Benchy" / "Wheel.stl")]).root_id
    assert new.model == "cubes"  # grouped as a scan of the whole root groups it
    assert library.file(str(prints / "Benchy" / "Window.stl")).missing is False  # not walked, not missing
    full = library.scan(thumbnails=False)
    assert full.missing == 1 and full.unchanged == 5


def test_scanning_a_parent_folds_the_old_root_into_it(library: Library, prints: Path) -> None:
    sub = prints / "Calibration"
    library.scan([sub], thumbnails=False)
    box = library.file(str(sub / "box.3mf"))
    assert library.model(box.model_id).kind == "file"  # directly in the old root: a model of its own
    library.tag(box.id, "keep")
    library.set_file_notes(box.id, "print at 0.1")
    report = library.scan([prints], thumbnails=False)  # used to fail: UNIQUE constraint failed: files.path
    assert report.added == 2 and report.unchanged == 3 and report.missing == 0
    assert library.roots() == [str(prints)]
    folded = library.file(str(sub / "box.3mf"))
    assert folded.id == box.id and folded.tags == ("keep",) and folded.notes == "print at 0.1"
    # regrouped as a scan of the new root would: box.3mf now belongs to the Calibration folder
    model = library.model(folded.model_id)
    assert model.kind == "folder" and model.path == str(sub)
    assert {f.root_id for f in library.files()} == {folded.root_id}
    assert library.scan(thumbnails=False).unchanged == 5
    assert library.scan([sub], thumbnails=False).unchanged == 3


def test_a_library_with_overlapping_roots_heals_on_the_next_scan(library: Library, prints: Path) -> None:
    sub = prints / "Calibration"
    library.scan([sub], thumbnails=False)
    ids = _paths(library)
    # the state the old code left: scanning the parent added its root, then crashed
    library.store.db.execute("insert into roots (path, added_at) values (?, '2026-01-01T00:00:00+00:00')", [str(prints)])
    library.store.db.conn.commit()
    report = library.scan(thumbnails=False)
    assert report.errors == 0 and report.added == 2 and report.unchanged == 3
    assert library.roots() == [str(prints)]
    assert {p: i for p, i in _paths(library).items() if p in ids} == ids
    assert library.scan(thumbnails=False).unchanged == 5


def test_add_root_never_overlaps(library: Library, prints: Path) -> None:
    sub = prints / "Calibration"
    outer = library.add_root(prints)
    assert library.add_root(sub) == outer and library.add_root(sub / "cubes") == outer
    assert library.roots() == [str(prints)]
    lib2 = Library(library.directory.parent / "lib2")
    try:
        inner = lib2.add_root(sub)
        other = lib2.add_root(prints / "Benchy")
        assert inner != other and lib2.roots() == sorted([str(sub), str(prints / "Benchy")])
        top = lib2.add_root(prints)
        assert lib2.roots() == [str(prints)] and top not in (inner, other)
    finally:
        lib2.close()


def test_overlapping_folders_in_one_scan_are_walked_once(library: Library, prints: Path) -> None:
    report = library.scan([prints / "Calibration", prints, prints / "Calibration" / "cubes"], thumbnails=False)
    assert report.added == 5 and report.unchanged == 0
    assert library.roots() == [str(prints)]


def test_cli_parent_then_subfolder_then_plain_scan(tmp_path: Path, prints: Path) -> None:
    lib = tmp_path / "lib"

    def pm(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "printmanager_core", "--library", str(lib), *args],
                              capture_output=True, text=True, timeout=300)

    for args in (("scan", str(prints / "Calibration")), ("scan", str(prints)), ("scan", str(prints / "Benchy")),
                 ("scan",)):
        out = pm(*args, "--no-thumbnails")
        assert out.returncode == 0 and "error" not in out.stderr.lower(), (args, out.stderr)
    assert pm("ls").stdout.count("\n") == 5


def test_symlink_leaving_its_root_is_not_followed(library: Library, prints: Path, tmp_path: Path, corpus: Path) -> None:
    secret_dir = tmp_path / "home" / ".ssh"
    secret_dir.mkdir(parents=True)
    secret = secret_dir / "id_rsa"
    secret.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nnot for the catalogue\n")
    outside_models = tmp_path / "elsewhere"
    shutil.copytree(corpus / "Benchy multi-part", outside_models)
    model = prints / "Benchy"
    os.symlink(secret, model / "x.stl")  # a model pack with x.stl -> ~/.ssh/id_rsa
    os.symlink(outside_models, prints / "more")  # a folder link out of the root
    os.symlink(tmp_path / "gone.stl", model / "dangling.stl")
    report = library.scan([prints], thumbnails=False)
    skipped = {s.path: s.error for s in report.skipped}
    assert skipped == {
        str(model / "x.stl"): SYMLINK_LEAVES_ROOT,
        str(prints / "more"): SYMLINK_LEAVES_ROOT,
        str(model / "dangling.stl"): SYMLINK_LEAVES_ROOT,
    }
    paths = set(_paths(library))
    assert str(model / "x.stl") not in paths and not any("more" in p for p in paths)
    assert all(f.hash != _sha(secret) for f in library.files(include_missing=True))
    assert report.as_json()["skipped"][0]["error"] == SYMLINK_LEAVES_ROOT
    # the CLI says so on stderr
    out = subprocess.run([sys.executable, "-m", "printmanager_core", "--library", str(tmp_path / "cli-lib"),
                          "scan", str(prints), "--no-thumbnails"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0
    assert f"skipped: {model / 'x.stl'}: {SYMLINK_LEAVES_ROOT}" in out.stderr


def _sha(path: Path) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_symlinks_within_the_root_count_once_and_never_loop(library: Library, prints: Path) -> None:
    benchy = prints / "Benchy"
    os.symlink(benchy / "Wheel.stl", prints / "Calibration" / "wheel-link.stl")  # file link inside the root
    os.symlink(benchy, prints / "Calibration" / "benchy-link")  # folder link inside the root
    os.symlink(prints, benchy / "loop")  # a loop back to the root
    os.symlink("loop2", benchy / "loop2")  # a link to itself
    report = library.scan([prints], thumbnails=False)
    assert report.added == 5 and report.errors == 0
    assert report.skipped == []
    assert len(library.files()) == 5  # Wheel.stl once, at its own path
    assert library.scan(thumbnails=False).unchanged == 5


def test_root_reached_through_a_symlink(library: Library, prints: Path, tmp_path: Path) -> None:
    link = tmp_path / "prints-link"
    os.symlink(prints, link)
    report = library.scan([link], thumbnails=False)
    assert report.added == 5 and report.skipped == []
    assert library.roots() == [str(prints)]
