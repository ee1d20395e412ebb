"""Warm rescans of a 10,000-file library: nothing changed, and 1% touched.

Figures, on a library of N generated tiny STLs (bench/_common.tiny_stls):

1. Nothing changed: a whole ``printmanager scan --no-thumbnails`` process
   (start-up included). Baseline, alternating run by run: a bare recursive
   ``os.scandir`` walk with a stat of every file, in this process (what finding
   "nothing changed" physically needs). Target: <= 2x the walk. The same
   rescan in-process (``Library.scan``) is printed beside it.
2. 1% of the files rewritten (new content, new hash), in-process
   (``Library.scan``: a whole process' start-up would drown the difference).
   Figure: per changed file, (touched rescan - unchanged rescan) / changed
   files, the two run back to back. Baseline: a cold scan's per-file cost (the
   first in-process scan of the same library divided by N). Target: <= the
   cold per-file cost.

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
from _common import add_quick, compile_bytecode, emit, process_env, run_child, tiny_stls  # noqa: E402

from printmanager_core import Library  # noqa: E402


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

        def scan(*extra: str) -> tuple[float, float]:
            return run_child([exe, "scan", *extra, "--no-thumbnails"], env)

        bare_walk(data)
        with Library(Path(tmp) / "lib") as lib:
            t0 = time.perf_counter()
            lib.scan([data], thumbnails=False)
            t_cold = time.perf_counter() - t0
        scan()  # warm-up
        walks: list[tuple[float, float]] = []
        warms: list[tuple[float, float]] = []
        for _ in range(repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            assert bare_walk(data) == n
            walks.append((time.perf_counter() - t0, time.process_time() - c0))
            warms.append(scan())
        changed = max(1, n // 100)
        src = paths[0].read_bytes()
        deltas: list[float] = []
        inproc: list[float] = []
        with Library(Path(tmp) / "lib") as lib:
            for r in range(repeat):
                for i, p in enumerate(paths[r * changed : (r + 1) * changed]):
                    p.write_bytes(f"touched {r} {i}".encode().ljust(80, b" ") + src[80:])
                t0 = time.perf_counter()
                rep = lib.scan(thumbnails=False)
                touched = time.perf_counter() - t0
                assert rep.updated == changed, rep
                t0 = time.perf_counter()
                lib.scan(thumbnails=False)
                unchanged = time.perf_counter() - t0
                inproc.append(unchanged)
                deltas.append(touched - unchanged)
    med = statistics.median
    walk, warm = med(c for _, c in walks), med(c for _, c in warms)
    walk_wall, warm_wall = med(w for w, _ in walks), med(w for w, _ in warms)
    ratio = med(w[1] / b[1] for w, b in zip(warms, walks))
    wall_ratio = med(w[0] / b[0] for w, b in zip(warms, walks))
    size = f"{n:,} tiny STLs, median of {repeat} paired runs"
    emit(f"Warm rescan of {n:,} unchanged files, whole process", f"{warm:.3f} s CPU ({warm_wall:.3f} s wall)",
         f"bare scandir walk {walk:.3f} s CPU ({walk_wall:.3f} s wall)",
         f"{ratio:.1f}x the walk (wall {wall_ratio:.1f}x)", "<= 2x the walk", ratio <= 2, size=size, quick=args.quick,
         detail={"rescan_cpu_s": warm, "walk_cpu_s": walk, "rescan_s": warm_wall, "walk_s": walk_wall,
                 "ratio": ratio, "wall_ratio": wall_ratio, "in_process_rescan_s": statistics.median(inproc),
                 "in_process_ratio": statistics.median(inproc) / walk_wall})  # fmt: skip
    print(f"    in-process rescan {med(inproc):.3f} s wall = {med(inproc) / walk_wall:.1f}x the walk's wall")
    per_changed = statistics.median(deltas) / changed
    per_cold = t_cold / n
    emit("Rescan after touching 1%: per changed file", f"{per_changed * 1000:.3f} ms",
         f"cold scan {per_cold * 1000:.3f} ms/file", f"{per_changed / per_cold:.2f}x the cold per-file cost",
         "<= the cold per-file cost", per_changed <= per_cold, size=f"{changed} of {size}", quick=args.quick,
         detail={"per_changed_s": per_changed, "cold_per_file_s": per_cold, "cold_s": t_cold})  # fmt: skip


if __name__ == "__main__":
    main()
