"""Peak memory of reading big binary STLs, watertightness included (issue 11 rows 3 and 4).

Table rows (each read in a fresh process, as a scan's reader runs it):
- one 500 MB binary STL (10M triangles; ``--quick``: 4M): peak RSS, target
  <= 1.5 x the file + 150 MB with watertight computed;
- one 65 MB binary STL (1.3M triangles): peak RSS, target <= 250 MB.
Baseline for both, in the same run: the peak RSS of a fresh process that imports
the same reader and reads nothing (the fixed cost), and the file's size. Peak RSS
is the child's VmHWM (ru_maxrss would include this script's own peak, inherited
across fork + exec).

The rest of this docstring is the older, issue-9 figure, still printed:
watertightness for every mesh, its cost on a 10M-triangle STL.

Figure: wall time and peak RSS of reading a generated binary STL of --triangles triangles
(a closed surface: a subdivided sphere-like grid, so the edge check does its full work),
each in a fresh process:
- ``read``: the STL reader as a scan runs it (triangle soup, metrics, watertightness);
- baseline ``no check``: the same read with the edge check skipped
  (``Limits(watertight_max_triangles=0)``, the old behaviour above the 2M threshold);
- floor: SHA-256 of the file (what every scan pays per byte).
The check's price is ``read - no check``; the target (issue 9) is that a scan still
reads such a file within the per-file time budget (``Limits.max_seconds_per_file``, 120 s)
and the same memory bound (4 GiB).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, add_quick, emit, row  # noqa: E402


def closed_grid_stl(path: Path, triangles: int) -> int:
    """A closed, watertight binary STL: a torus grid of about ``triangles`` triangles."""
    n = int(np.sqrt(triangles / 2))
    u = np.linspace(0, 2 * np.pi, n, endpoint=False)
    v = np.linspace(0, 2 * np.pi, n, endpoint=False)
    uu, vv = np.meshgrid(u, v, indexing="ij")
    pts = np.stack([(60 + 20 * np.cos(vv)) * np.cos(uu), (60 + 20 * np.cos(vv)) * np.sin(uu), 20 * np.sin(vv)],
                   axis=-1).astype(np.float32)
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    a, b = pts[i, j], pts[(i + 1) % n, j]
    c, d = pts[(i + 1) % n, (j + 1) % n], pts[i, (j + 1) % n]
    tris = np.concatenate([np.stack([a, b, c], axis=2).reshape(-1, 3, 3), np.stack([a, c, d], axis=2).reshape(-1, 3, 3)])
    rec = np.zeros(len(tris), dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")])
    rec["v"] = tris
    with open(path, "wb") as fh:
        fh.write(b"\0" * 80 + np.uint32(len(tris)).tobytes())
        fh.write(rec.tobytes())
    return len(tris)


CHILD = """
import json, resource, sys, time
from printmanager_core.readers import read_source
from printmanager_core.readers.base import Limits, Source
limits = Limits() if sys.argv[2] != "skip" else Limits(watertight_max_triangles=0)
t = time.perf_counter()
res = read_source(Source.from_path(sys.argv[1], limits=limits)) if sys.argv[2] != "bare" else None
# VmHWM, not ru_maxrss: Linux carries the parent's high-water mark into ru_maxrss across
# fork + exec, so ru_maxrss here would report the bench's own peak (building the mesh)
hwm = [line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")]
rss = int(hwm[0]) * 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": time.perf_counter() - t, "watertight": res and res.watertight, "rss": rss}))
"""


def measure(path: Path, mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), mode], capture_output=True, text=True,
                         check=True, cwd=REPO)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_quick(parser)
    parser.add_argument("--triangles", type=int, help="the big STL (default 10,000,000; --quick 4,000,000)")
    parser.add_argument("--medium", type=int, default=1_300_000, help="the 65 MB STL's triangles")
    args = parser.parse_args()
    big = args.triangles or (4_000_000 if args.quick else 10_000_000)
    with tempfile.TemporaryDirectory() as tmp:
        bare = measure(Path(tmp) / "none", "bare")
        for triangles, name in ((args.medium, "medium"), (big, "big")):
            path = Path(tmp) / f"{name}.stl"
            count = closed_grid_stl(path, triangles)
            size = path.stat().st_size
            t = time.perf_counter()
            with open(path, "rb") as fh:
                hashlib.file_digest(fh, "sha256")
            floor = time.perf_counter() - t
            check = measure(path, "check")
            base = f"reader imported, nothing read {bare['rss'] / 1e6:.0f} MB; file {size / 1e6:.0f} MB"
            ratio = f"{check['rss'] / size:.2f}x the file"
            if name == "big":
                limit = 1.5 * size + 150e6
                emit(f"One {size / 1e6:.0f} MB binary STL ({count / 1e6:.1f}M triangles): peak RSS",
                     f"{check['rss'] / 1e6:.0f} MB, watertight={check['watertight']}", base, ratio,
                     f"<= 1.5 x file + 150 MB ({limit / 1e6:.0f} MB), watertight computed",
                     check["rss"] <= limit and check["watertight"] is not None,
                     size=f"{count:,} triangles, {check['seconds']:.1f} s", quick=args.quick,
                     detail={"file_bytes": size, "bare_rss": bare["rss"], **check})  # fmt: skip
                plain = measure(path, "skip")
                print(f"binary STL, {count:,} triangles, {size:,} bytes")
                row("read with watertightness", f"{check['seconds']:.1f} s", f"no check {plain['seconds']:.1f} s, "
                    f"sha256 {floor:.1f} s", "watertight" if check["watertight"] else f"watertight={check['watertight']}")
                row("price of the edge check", f"{check['seconds'] - plain['seconds']:.1f} s",
                    f"{(check['rss'] - plain['rss']) / 1024**2:,.0f} MiB more", "")
            else:
                emit(f"One {size / 1e6:.0f} MB binary STL ({count / 1e6:.1f}M triangles): peak RSS",
                     f"{check['rss'] / 1e6:.0f} MB, watertight={check['watertight']}", base, ratio, "<= 250 MB",
                     check["rss"] <= 250e6, size=f"{count:,} triangles, {check['seconds']:.1f} s", quick=args.quick,
                     detail={"file_bytes": size, "bare_rss": bare["rss"], **check})  # fmt: skip


if __name__ == "__main__":
    main()
