"""Crash safety, proven with real kills: ``kill -9`` (and Ctrl-C) at random moments
of a real ``printmanager scan`` leave a consistent database, and the next scan
completes the job — the same catalogue as a scan never interrupted.

A longer run of the same harness: ``bench/kill_scan.py``.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from process_support import KillStats, interrupted_scans


def test_kill_9_and_ctrl_c_at_random_moments_of_real_scans(tmp_path: Path, corpus: Path) -> None:
    seed = int(os.environ.get("PRINTMANAGER_KILL_SEED", random.randrange(2**32)))
    stats = KillStats()
    try:
        interrupted_scans(random.Random(seed), tmp_path, rounds=5, kills_per_round=4, stats=stats)
    except Exception as exc:
        raise AssertionError(f"{exc!r} (reproduce with PRINTMANAGER_KILL_SEED={seed})") from exc
    print(f"{stats.signals} interruptions, {stats.mid_scan} mid-scan, {stats.rounds} rounds in {stats.seconds:.0f}s")
    assert stats.signals == 20
    # most signals landed while the scan was running, not after it had finished
    assert stats.mid_scan >= 13, f"only {stats.mid_scan} of 20 interruptions landed mid-scan (seed {seed})"


def test_ctrl_c_never_keeps_half_an_archive(tmp_path: Path, corpus: Path) -> None:
    """Before: a Ctrl-C while an archive's members were written committed some of
    them, and every later scan took the archive as catalogued (members lost for good)."""
    import signal
    import sqlite3
    import time
    import zipfile

    from process_support import CUBE, check_consistent, reap_group, run, start, wait_for

    cube = CUBE.read_bytes()
    data = tmp_path / "packs"
    data.mkdir()
    archives, members = 30, 300
    for a in range(archives):
        with zipfile.ZipFile(data / f"pack{a:02d}.zip", "w") as zf:
            for j in range(members):
                zf.writestr(f"parts/m{j}.stl", f"{a}-{j}".encode().ljust(80) + cube[80:])
    rng = random.Random(int(os.environ.get("PRINTMANAGER_KILL_SEED", random.randrange(2**32))))
    landed = 0
    for t in range(4):
        lib = tmp_path / f"lib{t}"
        db = lib / "printmanager.db"

        def some_rows() -> bool:
            try:
                con = sqlite3.connect(db, timeout=1)
                try:
                    return con.execute("select count(*) from files").fetchone()[0] > 0
                finally:
                    con.close()
            except sqlite3.Error:
                return False

        scan = start(lib, "scan", str(data), "--no-thumbnails", "--workers", "2")
        try:
            wait_for(lambda: scan.poll() is not None or some_rows(), 60, "the first archive")
            time.sleep(rng.uniform(0.0, 0.4))
            if scan.poll() is None:
                os.killpg(scan.pid, signal.SIGINT)
            out, err = scan.communicate(timeout=60)
        finally:
            reap_group(scan)
        assert "Traceback" not in err, err
        check_consistent(lib)
        con = sqlite3.connect(db)
        counts = dict(con.execute("select archive_path, count(*) from files group by archive_path").fetchall())
        con.close()
        assert all(n == members for n in counts.values()), f"half an archive kept: {counts}"
        landed += scan.returncode == 130 and 0 < len(counts) < archives
        again = run(lib, "scan", "--no-thumbnails")
        assert again.returncode == 0, again.stderr
        con = sqlite3.connect(db)
        assert con.execute("select count(*) from files where missing = 0").fetchone()[0] == archives * members
        con.close()
    assert landed >= 2, f"only {landed} of 4 interrupts landed mid-scan"
