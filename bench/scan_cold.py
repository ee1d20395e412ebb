"""Cold scan of real files, beside the read+inflate+SHA-256 floor and the naive peer.

Figure: seconds of a whole ``printmanager scan --no-thumbnails`` process (start-up
included) on a fresh library of N copies of ../shared/corpus (the real-file mix:
3MF, STL, OBJ, PLY, G-code, zips, broken files).
Baselines, over the same files in the same run:
- the floor: a plain Python process that walks, reads, inflates zip/3MF members
  and SHA-256-hashes the same bytes (bench/_floor.py); runs alternate with the
  scan's and the figure is the median of the per-pair ratios;
- the naive peer: per file, ``trimesh.load()`` (default processing) + bounds,
  volume, area, is_watertight + a SHA-256 — what peer managers do (one run).
Targets (issue 11): scan <= 3x the floor; >= 10x faster than the peer.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CORPUS, add_quick, compile_bytecode, emit, process_env, run_child  # noqa: E402

HERE = Path(__file__).resolve().parent


def build(dest: Path, copies: int) -> list[Path]:
    for i in range(copies):
        shutil.copytree(CORPUS, dest / f"copy{i:03d}")
    return sorted(p for p in dest.rglob("*") if p.is_file())


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
        except Exception:  # noqa: BLE001 - the peer failing on a file is part of its run
            pass
    return ok


def paired_scan(data: Path, lib: Path, repeat: int, workers: int | None) -> dict[str, float]:
    """Alternate a fresh-library ``printmanager scan`` with the floor process: medians and ratios.

    ``ratio`` is the median of the per-pair ratios of CPU time (the rows are judged on it: the
    machine may be shared), ``wall_ratio`` the same for wall time.
    """
    exe = str(Path(sys.executable).with_name("printmanager"))
    env = process_env(PRINTMANAGER_LIBRARY=str(lib))
    scan_cmd = [exe, "scan", str(data), "--no-thumbnails"] + ([f"--workers={workers}"] if workers else [])
    floor_cmd = [sys.executable, str(HERE / "_floor.py"), str(data)]
    run_child(floor_cmd, env)  # warm the page cache: every contender reads from memory
    scans: list[tuple[float, float]] = []
    floors: list[tuple[float, float]] = []
    for _ in range(repeat):
        shutil.rmtree(lib, ignore_errors=True)
        floors.append(run_child(floor_cmd, env))
        scans.append(run_child(scan_cmd, env))
    med = statistics.median
    return {"scan_s": med(w for w, _ in scans), "floor_s": med(w for w, _ in floors),
            "scan_cpu_s": med(c for _, c in scans), "floor_cpu_s": med(c for _, c in floors),
            "ratio": med(s[1] / f[1] for s, f in zip(scans, floors)),
            "wall_ratio": med(s[0] / f[0] for s, f in zip(scans, floors)), "runs": repeat}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_quick(ap)
    ap.add_argument("--copies", type=int, help="copies of the corpus (default 25, --quick 4)")
    ap.add_argument("--repeat", type=int, help="paired runs (default 5, --quick 3)")
    ap.add_argument("--workers", type=int, help="scan reader processes (default: the scan's own, CPU count)")
    ap.add_argument("--no-peer", action="store_true", help="skip the (slow) trimesh peer")
    args = ap.parse_args()
    copies = args.copies or (4 if args.quick else 25)
    repeat = args.repeat or (3 if args.quick else 5)
    compile_bytecode()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        paths = build(data, copies)
        total = sum(p.stat().st_size for p in paths)
        got = json.loads(subprocess.run([sys.executable, str(HERE / "_floor.py"), str(data)], capture_output=True,
                                        text=True, check=True).stdout)  # fmt: skip
        assert got["files"] == len(paths)
        m = paired_scan(data, Path(tmp) / "lib", repeat, args.workers)
        t_naive = None
        if not args.no_peer:
            t0 = time.process_time()
            naive(paths)
            t_naive = time.process_time() - t0
    size = f"{len(paths)} files, {total / 1e6:.0f} MB ({copies} corpus copies), median of {repeat} paired runs"
    emit("Cold scan, real files: vs the read+inflate+SHA-256 floor",
         f"{m['scan_cpu_s']:.2f} s CPU ({m['scan_s']:.2f} s wall)",
         f"floor {m['floor_cpu_s']:.2f} s CPU ({m['floor_s']:.2f} s wall)",
         f"{m['ratio']:.1f}x the floor (wall {m['wall_ratio']:.1f}x)", "<= 3x the floor", m["ratio"] <= 3,
         size=size, quick=args.quick, detail={**m, "files": len(paths), "bytes": total})  # fmt: skip
    if t_naive is not None:
        speedup = t_naive / m["scan_cpu_s"]  # the peer runs in this process: its wall is its CPU, near enough
        emit("Cold scan, real files: vs the naive trimesh.load() peer", f"{m['scan_cpu_s']:.2f} s CPU",
             f"trimesh peer {t_naive:.2f} s (1 run, in-process)", f"{speedup:.1f}x faster than the peer",
             ">= 10x faster than the peer", speedup >= 10, size=size, quick=args.quick,
             detail={"scan_s": m["scan_s"], "peer_s": t_naive})  # fmt: skip


if __name__ == "__main__":
    main()
