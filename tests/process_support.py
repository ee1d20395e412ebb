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
        tables = {r[0] for r in con.execute("select name from sqlite_master where type = 'table'")}
        if "files" not in tables:
            # killed while the new library's schema was being made: that is all undone
            assert tables <= {"_sqlite_migrations"}, tables
            if tables:
                assert con.execute("select count(*) from _sqlite_migrations").fetchone()[0] == 0
            return
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


def present_models(library: Path) -> set[str]:
    con = sqlite3.connect(db_path(library), timeout=30)
    try:
        return {r[0] for r in con.execute("select path from models where missing = 0")}
    finally:
        con.close()


def mutate(rng: Any, data: Path, n: int) -> None:
    """Change ``data`` as a user does between scans: edit, add, delete and move files."""
    cube = CUBE.read_bytes()
    stls = sorted(p for p in data.rglob("p*.stl"))
    for p in rng.sample(stls, min(n, len(stls))):  # edited in place: new content, same name
        p.write_bytes(f"{p.stem} v{rng.randrange(10**9)}".encode().ljust(80) + cube[80:])
    stls = sorted(p for p in data.rglob("p*.stl"))
    for p in rng.sample(stls, min(n // 10 + 1, len(stls))):
        p.unlink()
    stls = sorted(p for p in data.rglob("p*.stl"))
    for p in rng.sample(stls, min(n // 10 + 1, len(stls))):  # moved to another model folder
        target = data / f"moved{rng.randrange(5)}"
        target.mkdir(exist_ok=True)
        p.rename(target / f"{p.stem}-{rng.randrange(10**6)}.stl")
    folder = data / f"new{rng.randrange(10**6)}"
    folder.mkdir()
    for j in range(n // 10 + 1):
        (folder / f"n{j}.stl").write_bytes(f"new {folder.name} {j}".encode().ljust(80) + cube[80:])
    packs = sorted(data.glob("pack*.zip"))
    if packs and rng.random() < 0.5:  # an archive rewritten with a member more
        pack = rng.choice(packs)
        with zipfile.ZipFile(pack, "a") as zf:
            zf.writestr(f"parts/extra{rng.randrange(10**6)}.stl", f"x{rng.random()}".encode().ljust(80) + cube[80:])


class KillStats:
    """What a run of :func:`interrupted_scans` saw."""

    def __init__(self) -> None:
        self.signals = 0
        self.mid_scan = 0  # the signal landed before the scan finished
        self.rounds = 0
        self.seconds = 0.0


def interrupted_scans(rng: Any, work: Path, rounds: int, kills_per_round: int, stats: KillStats) -> None:
    """Rounds of: a fresh library, scans interrupted at random moments (``kill -9`` of
    the scan process, some Ctrl-C), the data changed between them; then one scan to
    the end, whose catalogue must equal an uninterrupted scan's of the same files.

    After every interruption the database must pass :func:`check_consistent`, and the
    write lock must be free (the killed scan's reader workers do not keep it).
    """
    from printmanager_core import Library

    t_start = time.monotonic()
    data = work / "data"
    if not data.exists():
        make_models(data, 1500, archives=3)
    # how long a first and a later scan take here: a scan that finishes before its
    # signal teaches the next delays (machines differ tenfold in speed)
    expected = {"first": 2.0, "later": 1.2}
    for r in range(rounds):
        lib = work / f"lib{r}"
        for k in range(kills_per_round):
            if k:
                mutate(rng, data, 150)
            kind = "first" if k == 0 else "later"
            sig = signal.SIGINT if rng.random() < 0.2 else signal.SIGKILL
            delay = rng.uniform(0.0, expected[kind])
            t0 = time.monotonic()
            proc = start(lib, "scan", str(data), "--no-thumbnails", "--workers", "2")
            try:
                if sig == signal.SIGINT:
                    # Ctrl-C during the scan (during Python's start-up it is Python's own traceback)
                    wait_for(lambda: proc.poll() is not None or lock_holder_pid(lib) == proc.pid, 60, "the scan")
                    delay = max(0.0, delay - (time.monotonic() - t0))
                end = time.monotonic() + delay
                while proc.poll() is None and time.monotonic() < end:
                    time.sleep(0.005)
                finished = proc.poll() is not None
                if finished:
                    expected[kind] = max(0.3, 0.9 * (time.monotonic() - t0))
                if not finished:
                    if sig == signal.SIGINT:
                        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
                    else:
                        os.kill(proc.pid, signal.SIGKILL)
                out, err = proc.communicate(timeout=120)
                where = f"round {r} kill {k} ({sig.name} after {delay:.2f}s)"
                if not finished and proc.returncode in (-signal.SIGKILL, 130):
                    stats.mid_scan += 1
                if sig == signal.SIGINT:
                    # -SIGINT: the scan had finished and printed its report; the signal
                    # landed while Python was shutting down (default handler again)
                    done = proc.returncode == -signal.SIGINT and " added, " in out
                    assert proc.returncode in (0, 130) or done, f"{where}: {proc.returncode} {out} {err}"
                    assert "Traceback" not in err, f"{where}: {err}"
                else:
                    assert proc.returncode in (0, -signal.SIGKILL), f"{where}: {proc.returncode} {err}"
                stats.signals += 1
                if db_path(library := lib).exists():
                    # the OS released the lock with the process, orphaned workers or not
                    assert lock_holder_pid(library) is None, where
                    check_consistent(lib)
            finally:
                reap_group(proc)
        final = run(lib, "scan", str(data), "--no-thumbnails", "--workers", "2", "--json")
        assert final.returncode == 0, final.stderr
        assert "waiting" not in final.stderr
        check_consistent(lib)
        reference = work / f"ref{r}"
        with Library(reference) as ref:
            ref.scan([data], workers=2, thumbnails=False)
        got, want = catalogue(lib), catalogue(reference)
        assert got.keys() == want.keys(), (
            f"round {r}: only interrupted: {sorted(got.keys() - want.keys())[:5]}, "
            f"only uninterrupted: {sorted(want.keys() - got.keys())[:5]}"
        )
        assert got == want, [(p, got[p], want[p]) for p in got if got[p] != want[p]][:5]
        assert present_models(lib) == present_models(reference)
        for gone in missing_paths(lib):  # what is marked missing really is gone
            assert gone not in got
            assert not Path(gone.split("!/", 1)[0]).exists() or "!/" in gone, gone
        shutil.rmtree(reference)
        stats.rounds += 1
    stats.seconds = time.monotonic() - t_start


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid``, from /proc (zombies count: they were not reaped)."""
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            kids.append(int(entry))
    return kids
