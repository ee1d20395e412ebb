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
        interrupted_scans(random.Random(seed), tmp_path, rounds=6, kills_per_round=4, stats=stats)
    except Exception as exc:
        raise AssertionError(f"{exc!r} (reproduce with PRINTMANAGER_KILL_SEED={seed})") from exc
    print(f"{stats.signals} interruptions, {stats.mid_scan} mid-scan, {stats.rounds} rounds in {stats.seconds:.0f}s")
    assert stats.signals == 24
    # most signals landed while the scan was running, not after it had finished
    assert stats.mid_scan >= 16, f"only {stats.mid_scan} of 24 interruptions landed mid-scan (seed {seed})"
