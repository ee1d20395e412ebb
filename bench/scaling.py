"""The scaling plot of docs/performance.md: cold scan, warm rescan and search cost from 1k to 1M files.

    .venv/bin/python bench/scaling.py [--scan 1000,3000,10000,30000,100000]
                                       [--search 1000,10000,100000,1000000] [--out docs/performance-scaling.png]
                                       [--only scan|search] [--cache DIR]

- cold scan: CPU seconds of a whole ``printmanager scan --no-thumbnails``
  process (its reader workers included) on a fresh library of N tiny STLs
  (bench/_common.tiny_stls), beside the read+SHA-256 floor process over the
  same files (bench/_floor.py), one paired run per size;
- warm rescan: the same library scanned again, nothing changed (median of 3),
  beside a bare os.scandir walk with a stat per file (CPU time: the machine
  the figures were made on is shared, and wall time there waits for a core);
- search: p95 of the first page (``Library.files(query, limit=50)``) and of
  counting every match, over bench/search.py's 14 queries on a generated
  catalogue of N files (the catalogue is inserted, not scanned).

Scan points stop at 100,000 files by default (1,000,000 files would take the
better part of an hour to write and scan on the 2-core machine the figures were
made on); the search points go to 1,000,000. The numbers are also written
beside the picture as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, compile_bytecode, machine, percentile, process_env, run_child, tiny_stls  # noqa: E402
from scan_cold import paired_scan  # noqa: E402
from scan_warm import bare_walk  # noqa: E402


def sizes(text: str) -> list[int]:
    return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]


def scan_point(n: int) -> dict[str, float]:
    exe = str(Path(sys.executable).with_name("printmanager"))
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        tiny_stls(data, n)
        lib = Path(tmp) / "lib"
        cold = paired_scan(data, lib, 1, None)
        env = process_env(PRINTMANAGER_LIBRARY=str(lib))
        warms = []
        walks = []
        for _ in range(3):
            c0 = time.process_time()
            bare_walk(data)
            walks.append(time.process_time() - c0)
            warms.append(run_child([exe, "scan", "--no-thumbnails"], env)[1])
    return {"files": n, "cold_s": cold["scan_cpu_s"], "floor_s": cold["floor_cpu_s"], "warm_s": statistics.median(warms),
            "walk_s": statistics.median(walks), "cold_wall_s": cold["scan_s"]}  # fmt: skip


def search_point(n: int, rounds: int, cache: Path | None = None) -> dict[str, float]:
    from search import measure

    m = measure(n, rounds, cache=cache)
    return {"files": n, "page_p95_ms": percentile(m["page"], 95), "count_p95_ms": percentile(m["count"], 95),
            "like_p95_ms": percentile(m["like"], 95), "built_s": m["built_s"]}  # fmt: skip


def plot(scan: list[dict], search: list[dict], out: Path, note: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4), dpi=110)
    if scan:
        x = [p["files"] for p in scan]
        left.plot(x, [p["cold_s"] for p in scan], "o-", color="tab:blue", label="cold scan (whole process)")
        left.plot(x, [p["floor_s"] for p in scan], "o--", color="tab:blue", alpha=0.5, label="read+SHA-256 floor")
        left.plot(x, [p["warm_s"] for p in scan], "s-", color="tab:green", label="warm rescan (whole process)")
        left.plot(x, [p["walk_s"] for p in scan], "s--", color="tab:green", alpha=0.5, label="bare scandir walk")
    left.set(xscale="log", yscale="log", xlabel="files (tiny STLs)", ylabel="CPU seconds (process + workers)", title="Scan (whole process)")
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=8)
    if search:
        x = [p["files"] for p in search]
        right.plot(x, [p["page_p95_ms"] for p in search], "o-", color="tab:purple", label="first page p95")
        right.plot(x, [p["count_p95_ms"] for p in search], "s-", color="tab:orange", label="count every match p95")
        right.plot(x, [p["like_p95_ms"] for p in search], "^--", color="grey", alpha=0.6, label="naive LIKE scan p95")
        right.axhline(10, color="tab:purple", lw=0.8, ls=":", label="targets: 10 ms / 50 ms")
        right.axhline(50, color="tab:orange", lw=0.8, ls=":")
    right.set(xscale="log", yscale="log", xlabel="files in the catalogue", ylabel="milliseconds",
              title="Search (14 queries)")  # fmt: skip
    right.grid(True, which="both", alpha=0.3)
    right.legend(fontsize=8)
    fig.suptitle("printmanager: cost against library size", fontsize=11)
    fig.text(0.5, 0.005, note, ha="center", fontsize=7, color="dimgrey")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(out)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scan", default="1000,3000,10000,30000,100000", help="scan sizes (comma-separated)")
    ap.add_argument("--search", default="1000,10000,100000,1000000", help="search catalogue sizes")
    ap.add_argument("--rounds", type=int, default=5, help="timed runs per search query")
    ap.add_argument("--out", default=str(REPO / "docs" / "performance-scaling.png"))
    ap.add_argument("--replot", action="store_true", help="redraw from the JSON beside --out, measure nothing")
    ap.add_argument("--only", choices=("scan", "search"),
                    help="measure one half; the other half's points are kept from the JSON beside --out")
    ap.add_argument("--cache", type=Path, help="keep the generated search catalogues here and reuse them")
    args = ap.parse_args()
    out = Path(args.out)
    data_path = out.with_suffix(".json")
    if args.replot:
        saved = json.loads(data_path.read_text())
    else:
        compile_bytecode()
        t0 = time.perf_counter()
        kept = json.loads(data_path.read_text()) if args.only else {}
        scan = kept.get("scan", []) if args.only == "search" else []
        for n in sizes(args.scan) if args.only != "search" else []:
            scan.append(scan_point(n))
            print(json.dumps(scan[-1]), flush=True)
        search = kept.get("search", []) if args.only == "scan" else []
        for n in sizes(args.search) if args.only != "scan" else []:
            search.append(search_point(n, args.rounds, args.cache))
            print(json.dumps(search[-1]), flush=True)
        saved = {"machine": machine(), "date": time.strftime("%Y-%m-%d", time.gmtime()),
                 "seconds": time.perf_counter() - t0, "scan": scan, "search": search}  # fmt: skip
        data_path.write_text(json.dumps(saved, indent=1) + "\n")
    note = f"{saved['date']}; {saved['machine']}"
    plot(saved["scan"], saved["search"], out, note)
    print(f"wrote {out} and {data_path}")


if __name__ == "__main__":
    main()
