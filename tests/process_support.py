"""Helpers for tests that run real ``printmanager`` processes on one library (not fixtures)."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
CUBE = CORPUS / "uranium" / "simpleTestCubeBinary.stl"


def pm_cmd(library: Path, *args: str) -> list[str]:
    """The command line of ``printmanager --library LIBRARY ARGS`` (this Python, this tree)."""
    return [sys.executable, "-m", "printmanager_core", "--library", str(library), *args]


def start(library: Path, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
    """Start ``printmanager`` in its own process group; stdout/stderr piped."""
    return subprocess.Popen(
        pm_cmd(library, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True, **kwargs,
    )


def run(library: Path, *args: str, timeout: float = 120, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run ``printmanager`` to the end."""
    return subprocess.run(pm_cmd(library, *args), capture_output=True, text=True, timeout=timeout, **kwargs)


def reap_group(proc: subprocess.Popen[str]) -> None:
    """Kill whatever is left of ``proc``'s process group (a killed scan's reader workers)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def make_models(dest: Path, n: int, *, archives: int = 2) -> None:
    """``n`` distinct small binary STLs in folders of 10, a few zips, and corpus files beside."""
    cube = CUBE.read_bytes()
    for i in range(n):
        folder = dest / f"m{i // 10:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"p{i}.stl").write_bytes(f"p{i}".encode().ljust(80) + cube[80:])
    for a in range(archives):
        with zipfile.ZipFile(dest / f"pack{a}.zip", "w") as zf:
            for j in range(5):
                zf.writestr(f"parts/z{a}-{j}.stl", f"z{a}-{j}".encode().ljust(80) + cube[80:])
    shutil.copytree(CORPUS / "Benchy multi-part", dest / "Benchy")
    shutil.copytree(CORPUS / "sliced", dest / "sliced")
    shutil.copytree(CORPUS / "3mf-samples", dest / "3mf-samples")


def count_catalogued(dest: Path) -> int:
    """How many files a full scan of ``make_models(dest, …)`` catalogues (walk + zip members)."""
    from printmanager_core.scan import walk

    total = 0
    for e in walk(dest):
        if e.kind == "archive":
            with zipfile.ZipFile(e.path) as zf:
                total += sum(1 for i in zf.infolist() if not i.is_dir())
        else:
            total += 1
    return total


def db_path(library: Path) -> Path:
    return library / "printmanager.db"


def check_consistent(library: Path) -> None:
    """The database passes ``integrity_check``, every foreign key holds, and rows are whole."""
    con = sqlite3.connect(db_path(library), timeout=30)
    try:
        assert con.execute("pragma integrity_check").fetchall() == [("ok",)]
        assert con.execute("pragma foreign_key_check").fetchall() == []
        # a present file row is a finished one: hashed (or with its error) and in a model
        half = con.execute(
            "select path from files where missing = 0 and hash is null and error is null"
        ).fetchall()
        assert half == [], f"rows without hash or error: {half[:5]}"
        assert con.execute("select count(*) from files where model_id is null").fetchone()[0] == 0
        dupes = con.execute("select path from files group by path having count(*) > 1").fetchall()
        assert dupes == []
    finally:
        con.close()


def catalogue(library: Path) -> dict[str, tuple[Any, ...]]:
    """What a scan decides about each present file, by path (ids and times left out)."""
    con = sqlite3.connect(db_path(library), timeout=30)
    try:
        rows = con.execute(
            "select files.path, files.hash, files.size_bytes, files.format, files.triangles, files.error, "
            "models.path, models.kind, models.missing from files join models on models.id = files.model_id "
            "where files.missing = 0"
        ).fetchall()
    finally:
        con.close()
    return {r[0]: tuple(r[1:]) for r in rows}


def missing_paths(library: Path) -> set[str]:
    con = sqlite3.connect(db_path(library), timeout=30)
    try:
        return {r[0] for r in con.execute("select path from files where missing = 1")}
    finally:
        con.close()


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


def lock_holder_pid(library: Path) -> int | None:
    """The pid in the library's lock file while somebody holds it (None when free)."""
    from printmanager_core.locking import LOCK_NAME, WriteLock

    holder = WriteLock(library / LOCK_NAME).holder()
    return holder.pid if holder else None
