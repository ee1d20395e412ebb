"""Organise on disk: real corpus folders moved and put back, crashes and a full disk lose nothing."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from printmanager_core import Library


def _tree(folder: Path) -> dict[str, str]:
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
    return out


def _setup(tmp_path: Path, corpus: Path) -> tuple[Path, Path]:
    prints = tmp_path / "prints"
    prints.mkdir()
    shutil.copytree(corpus / "Benchy multi-part", prints / "Benchy multi-part")
    shutil.copytree(corpus / "prusaslicer-shapes", prints / "shapes")
    (prints / "shapes" / "datapackage.json").write_text('{"name": "shapes"}')
    (prints / "shapes" / "images").mkdir()
    shutil.copy(corpus / "3mf-samples" / "cube_gears.3mf", prints / "cube_gears.3mf")
    lib_dir = tmp_path / "lib"
    with Library(lib_dir) as lib:
        lib.scan([prints], workers=1, thumbnails=False)
        benchy = lib.model(str(prints / "Benchy multi-part"))
        lib.update_model(benchy.id, creator="Creative Tools")
        lib.tag_model(benchy.id, "boat")
        lib.tag(lib.file(str(prints / "shapes" / "torus.stl")).id, "ring")
    return prints, lib_dir


def _catalogue(lib: Library) -> dict[int, tuple[str, tuple[str, ...]]]:
    return {f.id: (f.path, f.tags) for f in lib.files()}


def test_organise_and_undo_keep_every_byte_and_tag(tmp_path: Path, corpus: Path) -> None:
    prints, lib_dir = _setup(tmp_path, corpus)
    before = _tree(prints)
    with Library(lib_dir) as lib:
        cat_before = _catalogue(lib)
        plan = lib.organise_plan(to=prints, templates=None)
        assert {m.action for m in plan.moves} == {"move"}
        assert _tree(prints) == before  # a plan moves nothing
        _, report = lib.organise(to=prints)
        assert report.files == 15
        assert (prints / "Creative Tools" / "Benchy multi-part" / "Wheel.stl").is_file()
        assert (prints / "Unknown" / "shapes" / "datapackage.json").is_file()
        assert (prints / "Unknown" / "shapes" / "images").is_dir()
        assert not (prints / "shapes").exists()
        torus = lib.file(str(prints / "Unknown" / "shapes" / "torus.stl"))
        assert torus.tags == ("ring",) and torus.id in cat_before
        assert lib.model(str(prints / "Creative Tools" / "Benchy multi-part")).tags == ("boat",)
        assert lib.scan(workers=1, thumbnails=False).added == 0
        lib.organise_undo()
        assert _tree(prints) == before
        assert _catalogue(lib) == cat_before


@pytest.mark.parametrize("point", ["journal", "rename", "linked", "catalogued", "removed", "model", "pruned"])
def test_crash_at_each_step_loses_nothing(tmp_path: Path, corpus: Path, point: str) -> None:
    prints, lib_dir = _setup(tmp_path, corpus)
    before = _tree(prints)
    env = {**os.environ, "PRINTMANAGER_TEST_KILL_AT": f"{point}:2" if point not in ("journal",) else "journal:1"}
    run = subprocess.run([sys.executable, "-m", "printmanager_core", "--library", str(lib_dir), "organise",
                          "--to", str(prints), "--yes"], env=env, capture_output=True, text=True)
    assert run.returncode == -9, run.stderr
    contents = sorted(v for v in _tree(prints).values() if v != "dir")
    assert set(contents) >= set(v for v in before.values() if v != "dir")  # every file somewhere
    undo = subprocess.run([sys.executable, "-m", "printmanager_core", "--library", str(lib_dir), "organise",
                           "--undo"], capture_output=True, text=True)
    assert undo.returncode == 0, undo.stderr
    assert _tree(prints) == before


#: mounting a tmpfs needs root (CI runs as root); other users get the variants that need none
ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture
def other_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A folder on another filesystem than ``tmp_path``'s (moves there are copies), without
    root: a folder in /dev/shm (a tmpfs), else a FUSE mount (tests/casefold_fs.py)."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and shm.stat().st_dev != tmp_path.stat().st_dev:
        folder = Path(tempfile.mkdtemp(prefix="pm-organise-", dir=shm))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    from casefold_fs import mounted

    with mounted(tmp_path / "backing", tmp_path / "other") as mnt:
        yield mnt


@pytest.fixture
def small_disk(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A real 2 MB tmpfs (another filesystem: moves there are copies); without root, where
    no tmpfs can be mounted, a folder on another filesystem (:func:`other_filesystem`)."""
    if not ROOT:
        yield request.getfixturevalue("other_filesystem")
        return
    mnt = tmp_path / "small"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True)
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.mark.parametrize("point", ["copy", "copied", "placed", "catalogued", "removed"])
def test_crash_during_a_copy_loses_nothing(tmp_path: Path, corpus: Path, small_disk: Path, point: str) -> None:
    prints, lib_dir = _setup(tmp_path, corpus)
    shutil.rmtree(prints / "shapes")  # what fits in 2 MB
    before = _tree(prints)
    env = {**os.environ, "PRINTMANAGER_TEST_KILL_AT": f"{point}:2"}
    run = subprocess.run([sys.executable, "-m", "printmanager_core", "--library", str(lib_dir), "organise",
                          "--to", str(small_disk), "--yes"], env=env, capture_output=True, text=True)
    assert run.returncode == -9, run.stderr
    resume = subprocess.run([sys.executable, "-m", "printmanager_core", "--library", str(lib_dir), "organise",
                             "--resume"], capture_output=True, text=True)
    assert resume.returncode == 0, resume.stderr
    moved = _tree(small_disk)
    assert sorted(v for v in moved.values() if v != "dir") == sorted(v for v in before.values() if v != "dir")
    with Library(lib_dir) as lib:
        lib.organise_undo()
    assert _tree(prints) == before


#: the file size limit of the organise process in the variant without root: more than the
#: library database and its write-ahead log grow to, less than the 9.4 MB corpus STL
FSIZE_LIMIT = 6 * 1024 * 1024


def _limit_file_size() -> None:
    """In the child, before exec: writing past FSIZE_LIMIT fails with EFBIG (SIGXFSZ ignored,
    as it would otherwise kill the process), the failure a full or FAT32 disk gives."""
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE_LIMIT, FSIZE_LIMIT))


@pytest.mark.parametrize("full", ["file-size-limit", *(["tmpfs"] if ROOT else [])])
def test_full_disk_stops_cleanly_and_loses_nothing(tmp_path: Path, corpus: Path, full: str,
                                                   request: pytest.FixtureRequest) -> None:
    if full == "tmpfs":  # 1.9 MB of files and a 2 MB disk, with its own overhead: ENOSPC
        prints, lib_dir = _setup(tmp_path, corpus)
        shutil.copy(corpus / "3mf-samples" / "cube_gears.3mf", prints / "Benchy multi-part" / "extra.3mf")
        dest = request.getfixturevalue("small_disk")
        limit, expected = None, "Error: disk full: "
    else:  # any user: a real process whose writes past FSIZE_LIMIT fail (EFBIG)
        prints, lib_dir = _setup(tmp_path, corpus)  # and a big file the model's folder took in since
        big = corpus / "printer-beds" / "UltimakerRobot_support.stl"
        shutil.copy(big, prints / "Benchy multi-part" / "support.stl")
        dest = request.getfixturevalue("other_filesystem")
        limit, expected = _limit_file_size, "Error: file too large for the destination: "
    before = _tree(prints)
    run = subprocess.run([sys.executable, "-m", "printmanager_core", "--library", str(lib_dir), "organise",
                          "--to", str(dest), "--yes"], capture_output=True, text=True, preexec_fn=limit)
    assert run.returncode == 1, run.stderr
    (line,) = [ln for ln in run.stderr.splitlines() if ln.startswith("Error")]
    assert line.startswith(expected) and "--resume" in line and "nothing lost" in line, line
    assert "Traceback" not in run.stderr
    every = sorted(v for v in {**_tree(prints), **{"d/" + k: v for k, v in _tree(dest).items()}}.values()
                   if v != "dir")
    assert set(every) >= {v for v in before.values() if v != "dir"}
    assert any(v != "dir" for v in _tree(dest).values())  # it stopped part of the way, not at the start
    assert not [p for p in dest.rglob(".pm-organise-*")]  # no half copy left
    with Library(lib_dir) as lib:
        undone = lib.organise_undo()
    assert undone.files == undone.copied > 0
    assert _tree(prints) == before
