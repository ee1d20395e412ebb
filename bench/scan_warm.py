"""Warm rescan of a 10,000-file library, beside a bare os.scandir walk.

Figure: seconds for `scan` when nothing changed. Baseline in the same run: a bare
recursive os.scandir walk with a stat of every file (what finding "nothing
changed" physically needs). Target: rescan ≤ 2× the bare walk.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CORPUS, row, timed  # noqa: E402

from printmanager_core import Library  # noqa: E402


def generate(dest: Path, n: int) -> None:
    """n small real STL files in folders of 10 (one model each)."""
    src = (CORPUS / "uranium" / "simpleTestCubeBinary.stl").read_bytes()
    for i in range(n):
        folder = dest / f"model{i // 10:05d}"
        if i % 10 == 0:
            folder.mkdir(parents=True)
        # vary the header so every file has its own hash
        (folder / f"part{i % 10}.stl").write_bytes(f"part {i}".encode().ljust(80, b" ") + src[80:])


def bare_walk(root: Path) -> int:
    count = 0
    stack = [str(root)]
    while stack:
        with os.scandir(stack.pop()) as it:
            for de in it:
                if de.is_dir(follow_symlinks=False):
                    stack.append(de.path)
                else:
                    de.stat()
                    count += 1
    return count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files", type=int, default=10_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        generate(data, args.files)
        with Library(Path(tmp) / "lib") as lib:
            first = lib.scan([data], thumbnails=False)
            assert first.added == args.files, first
            t_walk = timed(lambda: bare_walk(data), repeat=5)
            t_rescan = timed(lambda: lib.scan(thumbnails=False), repeat=5)
            again = lib.scan(thumbnails=False)
            assert again.unchanged == args.files and again.added == again.updated == 0
    print(f"warm rescan: {args.files} files, nothing changed")
    row("printmanager warm rescan (s)", f"{t_rescan:.3f}", f"bare os.scandir walk {t_walk:.3f}s",
        f"{t_rescan / t_walk:.2f}x walk (target <= 2x)")


if __name__ == "__main__":
    main()
