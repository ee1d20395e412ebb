"""Crash safety at length: many real scans killed at random moments.

Figure: interruptions (``kill -9`` of the scan process, some Ctrl-C) at random
moments of real ``printmanager scan`` runs, and how many left a database that
failed ``PRAGMA integrity_check``/foreign keys or a catalogue that the next scan
did not complete to match an uninterrupted scan. Baseline: the same harness as
``tests/test_kill.py`` (20 interruptions), here run for ``--rounds`` rounds.
Target: 0 failures.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests"))
from _common import row  # noqa: E402

from process_support import KillStats, interrupted_scans  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=25, help="fresh libraries (default 25)")
    ap.add_argument("--kills", type=int, default=8, help="interruptions per round (default 8)")
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    stats = KillStats()
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            try:
                interrupted_scans(random.Random(seed + r), Path(tmp) / f"r{r}", 1, args.kills, stats)
            except Exception as exc:
                failures += 1
                print(f"round {r} (seed {seed + r}): {exc}", file=sys.stderr)
    print(f"{stats.signals} interruptions ({stats.mid_scan} mid-scan) in {args.rounds} rounds, seed {seed}")
    row("scans interrupted, then completed", f"{stats.signals}", "tests/test_kill.py: 24",
        f"{failures} inconsistent (target 0)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
