"""Cold scan of many tiny STLs, beside the read+SHA-256 floor.

Figure: seconds of a whole ``printmanager scan --no-thumbnails`` process on a
fresh library of N generated 12-triangle binary STLs (684 bytes each, 10 per
model folder): the per-file overhead of a scan (walk, read, parse, SQL).
Baseline, alternating run by run: a plain Python process that walks, reads and
SHA-256-hashes the same files (bench/_floor.py). Figure and baseline are
medians; the ratio is the median of the per-pair ratios.
Target (issue 11): <= 4x the floor at 100,000 files.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_quick, compile_bytecode, emit, tiny_stls  # noqa: E402
from scan_cold import paired_scan  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_quick(ap)
    ap.add_argument("--files", type=int, help="tiny STLs (default 100,000; --quick 10,000)")
    ap.add_argument("--repeat", type=int, help="paired runs (default 3)")
    ap.add_argument("--workers", type=int, help="scan reader processes (default: the scan's own)")
    args = ap.parse_args()
    n = args.files or (10_000 if args.quick else 100_000)
    repeat = args.repeat or 3
    compile_bytecode()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        tiny_stls(data, n)
        m = paired_scan(data, Path(tmp) / "lib", repeat, args.workers)
    per_file_ms = m["scan_cpu_s"] / n * 1000
    emit(f"Cold scan, {n:,} tiny STLs", f"{m['scan_cpu_s']:.2f} s CPU ({per_file_ms:.3f} ms/file; {m['scan_s']:.2f} s wall)",
         f"floor {m['floor_cpu_s']:.2f} s CPU ({m['floor_s']:.2f} s wall)",
         f"{m['ratio']:.1f}x the floor (wall {m['wall_ratio']:.1f}x)", "<= 4x the floor", m["ratio"] <= 4,
         size=f"{n:,} files of 684 B, median of {repeat} paired runs", quick=args.quick,
         detail={**m, "files": n, "per_file_ms": per_file_ms})  # fmt: skip


if __name__ == "__main__":
    main()
