"""Warm rescans of a 10,000-file library: nothing changed, and 1% touched.

Figures, each a whole ``printmanager scan --no-thumbnails`` process (start-up
included) on a library of N generated tiny STLs (bench/_common.tiny_stls):

1. Nothing changed. Baseline, alternating run by run: a bare recursive
   ``os.scandir`` walk with a stat of every file, in this process (what finding
   "nothing changed" physically needs). Target: <= 2x the walk.
2. 1% of the files rewritten (new content, new hash). Figure: per changed file,
   (touched rescan - unchanged rescan) / changed files, the two run back to back.
   Baseline: a cold scan's per-file cost (the first scan of the same library,
   same process shape, divided by N). Target: <= the cold per-file cost.

Medians of --repeat pairs; the ratios are medians of the per-pair ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_quick, compile_bytecode, emit, process_env, tiny_stls  # noqa: E402


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
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_quick(ap)
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, help="paired runs (default 7, --quick 5)")
    args = ap.parse_args()
    repeat = args.repeat or (5 if args.quick else 7)
    n = args.files
    compile_bytecode()
    exe = str(Path(sys.executable).with_name("printmanager"))
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        paths = tiny_stls(data, n)
        env = process_env(PRINTMANAGER_LIBRARY=str(Path(tmp) / "lib"))

        def scan(*extra: str) -> float:
            t0 = time.perf_counter()
            subprocess.run([exe, "scan", *extra, "--no-thumbnails"], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, check=True)  # fmt: skip
            return time.perf_counter() - t0

        bare_walk(data)
        t_cold = scan(str(data))
        scan()  # warm-up
        walks: list[float] = []
        warms: list[float] = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            assert bare_walk(data) == n
            walks.append(time.perf_counter() - t0)
            warms.append(scan())
        changed = max(1, n // 100)
        src = paths[0].read_bytes()
        deltas: list[float] = []
        for r in range(repeat):
            for i, p in enumerate(paths[r * changed : (r + 1) * changed]):
                p.write_bytes(f"touched {r} {i}".encode().ljust(80, b" ") + src[80:])
            touched = scan()
            unchanged = scan()
            deltas.append(touched - unchanged)
    walk, warm = statistics.median(walks), statistics.median(warms)
    ratio = statistics.median(w / b for w, b in zip(warms, walks))
    size = f"{n:,} tiny STLs, median of {repeat} paired runs"
    emit(f"Warm rescan of {n:,} unchanged files, whole process", f"{warm:.3f} s", f"bare scandir walk {walk:.3f} s",
         f"{ratio:.1f}x the walk", "<= 2x the walk", ratio <= 2, size=size, quick=args.quick,
         detail={"rescan_s": warm, "walk_s": walk, "ratio": ratio})  # fmt: skip
    per_changed = statistics.median(deltas) / changed
    per_cold = t_cold / n
    emit("Rescan after touching 1%: per changed file", f"{per_changed * 1000:.3f} ms",
         f"cold scan {per_cold * 1000:.3f} ms/file", f"{per_changed / per_cold:.1f}x the cold per-file cost",
         "<= the cold per-file cost", per_changed <= per_cold, size=f"{changed} of {size}", quick=args.quick,
         detail={"per_changed_s": per_changed, "cold_per_file_s": per_cold, "cold_s": t_cold})  # fmt: skip


if __name__ == "__main__":
    main()
