"""One writer at a time, many readers: real ``printmanager`` processes on one library.

Before the write lock, two scans of one library at once ended with
``IntegrityError: UNIQUE constraint failed: files.path`` or ``database is
locked`` in every try.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from process_support import (
    catalogue,
    check_consistent,
    count_catalogued,
    lock_holder_pid,
    make_models,
    reap_group,
    run,
    start,
    wait_for,
)

WAITING = re.compile(r"^another scan of this library is running \(pid (\d+)\); waiting…$")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory, corpus: Path) -> Path:
    root = tmp_path_factory.mktemp("concurrency") / "prints"
    make_models(root, 600)
    return root


def _report(out: str) -> dict[str, int]:
    return json.loads(out)


def test_two_real_scans_at_once_both_finish_and_agree(tmp_path: Path, data: Path) -> None:
    expected = count_catalogued(data)
    reference = None
    overlapped = 0
    for attempt in range(6):
        lib = tmp_path / f"lib{attempt}"
        a = start(lib, "scan", str(data), "--json", "--no-thumbnails", "--workers", "2")
        b = start(lib, "scan", str(data), "--json", "--no-thumbnails", "--workers", "2")
        try:
            out_a, err_a = a.communicate(timeout=120)
            out_b, err_b = b.communicate(timeout=120)
        finally:
            reap_group(a)
            reap_group(b)
        assert a.returncode == 0 and b.returncode == 0, (attempt, err_a, err_b)
        for err, other in ((err_a, a), (err_b, b)):
            lines = err.splitlines()
            assert len(lines) <= 1, err  # nothing but the one waiting line
            if lines:
                m = WAITING.match(lines[0])
                assert m, lines[0]
                assert int(m.group(1)) in {a.pid, b.pid} - {other.pid}
                overlapped += 1
        ra, rb = _report(out_a), _report(out_b)
        assert ra["errors"] == rb["errors"] == 0
        # one catalogued everything, the other found it all done (or shared it)
        assert ra["added"] + rb["added"] == expected, (ra, rb)
        assert sorted([ra["unchanged"], rb["unchanged"]]) in ([0, expected], sorted([ra["added"], rb["added"]]))
        check_consistent(lib)
        cat = catalogue(lib)
        assert len(cat) == expected
        if reference is None:
            reference = cat
        assert cat == reference
    # the two processes really did run at the same time (the second waited)
    assert overlapped >= 3, f"only {overlapped} of 6 tries overlapped"


def _start_and_wait_for_lock(lib: Path, data: Path, *extra: str):
    scan = start(lib, "scan", str(data), "--no-thumbnails", "--workers", "2", *extra)
    wait_for(lambda: lock_holder_pid(lib) == scan.pid or scan.poll() is not None, 60, "the scan to take the lock")
    assert scan.poll() is None, scan.communicate()
    return scan


HOLD_LOCK = """
import sys
from printmanager_core import Library
with Library(sys.argv[1]) as lib, lib.write_lock("scan"):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_a_second_scan_refuses_in_one_line_with_no_wait(tmp_path: Path, data: Path) -> None:
    lib = tmp_path / "lib"
    first = run(lib, "scan", str(data), "--no-thumbnails")
    assert first.returncode == 0, first.stderr
    other = tmp_path / "other"
    make_models(other, 5, archives=0)
    # a real process holds the library's write lock as a scan does, for as long as the test needs
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(lib)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        assert lock_holder_pid(lib) == holder.pid
        t0 = time.monotonic()
        refused = run(lib, "scan", str(other), "--no-wait")
        t1 = time.monotonic()
        timed = run(lib, "scan", str(other), "--wait-timeout", "1.5")
        waited = time.monotonic() - t1
        bare = run(lib, "scan", "--no-wait")  # rescanning every root refuses the same way
    finally:
        holder.communicate("", timeout=30)
    assert holder.returncode == 0
    for result in (refused, timed, bare):
        assert result.returncode == 75, result.stderr
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert lines[-1] == f"Error: another scan of this library is running (pid {holder.pid}); try again when it is done"
    assert refused.stderr.count("\n") == 1 and bare.stderr.count("\n") == 1
    # --wait-timeout says it waits, waits that long, then refuses
    assert timed.stderr.splitlines()[0] == f"another scan of this library is running (pid {holder.pid}); waiting…"
    assert len(timed.stderr.splitlines()) == 2
    assert waited >= 1.5 and t1 - t0 < waited
    check_consistent(lib)
    # the refused scans added nothing, not even their root
    con = sqlite3.connect(lib / "printmanager.db")
    roots = [r[0] for r in con.execute("select path from roots")]
    con.close()
    assert roots == [str(data.resolve())]
    # once the lock is free the same command runs
    after = run(lib, "scan", str(other), "--no-wait", "--no-thumbnails", "--json")
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout)["added"] == count_catalogued(other)


def test_readers_and_a_tagger_work_during_a_scan(tmp_path: Path, data: Path) -> None:
    lib = tmp_path / "lib"
    first = run(lib, "scan", str(data / "Benchy"), "--no-thumbnails")
    assert first.returncode == 0, first.stderr
    bigger = tmp_path / "bigger"
    make_models(bigger, 3000, archives=0)
    scan = _start_and_wait_for_lock(lib, bigger)
    seen: list[int] = []
    i = 0
    try:
        done = False  # the last ls must start after the scan ended, to see all of it
        while not done or i < 3:
            done = scan.poll() is not None
            ls = run(lib, "ls", "--json")
            assert ls.returncode == 0, ls.stderr
            assert "waiting" not in ls.stderr
            seen.append(len(json.loads(ls.stdout)))
            tag = run(lib, "tag", "1", f"t{i}")
            assert tag.returncode == 0, tag.stderr
            assert "waiting" not in tag.stderr
            i += 1
    finally:
        out, err = scan.communicate(timeout=120)
        reap_group(scan)
    assert scan.returncode == 0, err
    assert "waiting" not in err
    assert seen == sorted(seen) and seen[0] >= 8  # readers see the scan's commits as they land
    assert seen[-1] == 8 + count_catalogued(bigger)
    check_consistent(lib)
    con = sqlite3.connect(lib / "printmanager.db")
    tags = con.execute("select tags from files where id = 1").fetchone()[0].split()
    con.close()
    assert sorted(tags) == sorted(f"t{j}" for j in range(i))


def test_a_tag_does_not_wait_for_a_whole_scan(tmp_path: Path, data: Path) -> None:
    """A long scan commits often and lets short writes in between (it used to hold
    SQLite's write lock so tightly that a tag waited until the scan ended)."""
    from printmanager_core import Library

    lib_dir = tmp_path / "lib"
    first = run(lib_dir, "scan", str(data / "Benchy"), "--no-thumbnails")
    assert first.returncode == 0, first.stderr
    bigger = tmp_path / "bigger"
    make_models(bigger, 6000, archives=0)
    waits: list[float] = []
    with Library(lib_dir) as lib:
        t_start = time.monotonic()
        scan = _start_and_wait_for_lock(lib_dir, bigger)
        try:
            n = 0
            while scan.poll() is None:
                t0 = time.monotonic()
                lib.tag(1, f"x{n % 7}")
                waits.append(time.monotonic() - t0)
                n += 1
                time.sleep(0.01)
        finally:
            out, err = scan.communicate(timeout=120)
            reap_group(scan)
        scan_seconds = time.monotonic() - t_start
        assert scan.returncode == 0, err
        assert len(lib.files()) == 8 + count_catalogued(bigger)
    assert scan_seconds > 1.5, "the scan was too quick to tell; make the data bigger"
    worst = max(waits)
    print(f"{len(waits)} tags during a {scan_seconds:.1f}s scan; worst wait {worst:.2f}s")
    assert worst < min(2.0, scan_seconds / 2), f"a tag waited {worst:.2f}s of a {scan_seconds:.1f}s scan"
    check_consistent(lib_dir)
    # the tags that had to wait said so in the "-turn" file, private like the database
    turn = lib_dir / "printmanager.db-turn"
    assert turn.exists() and turn.stat().st_mode & 0o777 == 0o600


HOLD_THEN_DELETE = """
import sys
from printmanager_core import Library
from printmanager_core.privacy.delete import delete_library
lib = Library(sys.argv[1])
with lib.write_lock("privacy delete"):
    print("held", flush=True)
    sys.stdin.readline()
    report = delete_library(lib)  # re-entrant: the same job goes on under the lock
print(report.left, flush=True)
"""


def test_privacy_delete_waits_for_a_scan_and_a_waiting_scan_stops_after_it(tmp_path: Path, data: Path) -> None:
    lib = tmp_path / "lib"
    assert run(lib, "scan", str(data / "Benchy"), "--no-thumbnails").returncode == 0
    # a delete while a scan holds the lock waits for it
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(lib)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        delete = start(lib, "privacy", "delete", "--yes")
        assert delete.stderr is not None
        # the first thing it says is that it waits (read before the holder lets go: on a loaded
        # machine the delete may take seconds just to start)
        first = delete.stderr.readline().rstrip("\n")
        time.sleep(0.5)
        assert delete.poll() is None  # still waiting
        assert (lib / "printmanager.db").exists()
    finally:
        holder.communicate("", timeout=30)
    out, err = delete.communicate(timeout=60)
    assert delete.returncode == 0, err
    assert first == f"another scan of this library is running (pid {holder.pid}); waiting…"
    assert "library deleted" in out
    assert sorted(p.name for p in lib.iterdir()) == []  # the lock file went with the index

    # a scan that waits while the library is deleted stops in one line, writing nothing
    assert run(lib, "scan", str(data / "Benchy"), "--no-thumbnails").returncode == 0
    deleter = subprocess.Popen([sys.executable, "-c", HOLD_THEN_DELETE, str(lib)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    assert deleter.stdout is not None and deleter.stdout.readline() == "held\n"
    waiting = start(lib, "scan", str(data / "Benchy"), "--no-thumbnails")
    assert waiting.stderr is not None
    # let the delete go only once the scan says it waits (a fixed sleep was not enough on a loaded machine)
    said = waiting.stderr.readline()
    left, _ = deleter.communicate("go\n", timeout=60)
    assert deleter.returncode == 0 and left.strip() == "[]"
    out, rest = waiting.communicate(timeout=60)
    err = said + rest
    reap_group(waiting)
    assert waiting.returncode == 1, err
    assert err.splitlines() == [
        f"another privacy delete of this library is running (pid {deleter.pid}); waiting…",
        f"Error: the library {lib} was deleted while this scan waited",
    ]
    assert sorted(p.name for p in lib.iterdir()) == []  # nothing left behind, not even a lock file
