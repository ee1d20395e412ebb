"""Cold scan of the corpus, beside the physical floor and the naive peer.

Figure: seconds for a first scan (fresh library) of N copies of ../shared/corpus.
Baselines measured in the same run, over the same files:
- floor: read every byte and SHA-256 it (what any correct scan must do);
- naive peer: per file, trimesh.load() (default processing) + bounds, volume,
  area, is_watertight + a hash — what peer managers do.
Targets: scan ≤ 3× the floor; ≥ 10× faster than the naive peer.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CORPUS, row, timed  # noqa: E402

from printmanager_core import Library  # noqa: E402
from printmanager_core.scan import walk  # noqa: E402


def build(dest: Path, copies: int) -> list[Path]:
    for i in range(copies):
        shutil.copytree(CORPUS, dest / f"copy{i:03d}")
    return [Path(e.path) for e in walk(dest)]


def floor(paths: list[Path]) -> None:
    for p in paths:
        with open(p, "rb") as fh:
            hashlib.file_digest(fh, "sha256")


def naive(paths: list[Path]) -> int:
    import trimesh

    ok = 0
    for p in paths:
        with open(p, "rb") as fh:
            hashlib.file_digest(fh, "sha256")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = trimesh.load(str(p), force="mesh")
                _ = (m.bounds, m.volume, m.area, m.is_watertight)
            ok += 1
        except Exception:
            pass
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--copies", type=int, default=10, help="copies of the corpus to scan")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        paths = build(data, args.copies)
        total = sum(p.stat().st_size for p in paths)
        floor(paths)  # warm the page cache so every contender reads from memory
        t_floor = timed(lambda: floor(paths), repeat=3)

        def scan() -> None:
            lib_dir = Path(tmp) / "lib"
            shutil.rmtree(lib_dir, ignore_errors=True)
            with Library(lib_dir) as lib:
                lib.scan([data], workers=args.workers, thumbnails=False)

        t_scan = timed(scan, repeat=3)
        t_naive = timed(lambda: naive(paths), repeat=1)
    print(f"cold scan: {len(paths)} files, {total / 1e6:.1f} MB, {args.workers} workers")
    row("printmanager cold scan (s)", f"{t_scan:.3f}", f"read+sha256 floor {t_floor:.3f}s",
        f"{t_scan / t_floor:.1f}x floor (target <= 3x)")
    row("printmanager cold scan (s)", f"{t_scan:.3f}", f"naive trimesh.load peer {t_naive:.3f}s",
        f"{t_naive / t_scan:.1f}x faster (target >= 10x)")


if __name__ == "__main__":
    main()
