"""``make bench``: run every script of the speed-and-memory table and write the table.

    .venv/bin/python bench/run_all.py [--full] [--only scan_cold,search] [--out bench/results]

Runs the table's scripts in the table's order (each with ``--quick`` unless
``--full``), each in its own process; every row a script emits
(``_common.emit``) is collected, then written to ``<out>.json`` (the rows, the
machine, the commit, the mode) and ``<out>.md`` (the table). A script that fails
is reported and the rest still run; the exit status is 1 if any failed.

The other scripts in bench/ (fuzz, kill_scan, readers, sync, thumbnails,
vault_scrypt, web) measure figures of earlier issues; ``--all`` runs them too
(with their own defaults: some take many minutes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, RESULTS_ENV, machine  # noqa: E402

HERE = Path(__file__).resolve().parent
#: the table's scripts, in the order of its rows (issue 11)
TABLE = ["scan_cold", "scan_tiny", "watertight", "cli_startup", "scan_warm", "search", "thumbnail_costs",
         "sync_nochange"]  # fmt: skip
OTHERS = ["readers", "thumbnails", "sync", "web", "vault_scrypt", "kill_scan", "fuzz"]


def commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()  # fmt: skip
        return out.stdout.strip() + ("+changes" if dirty else "")
    except OSError:
        return "unknown"


def markdown(rows: list[dict], meta: dict) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` (bench/run_all.py{'' if meta['quick'] else ' --full'}) on {meta['date']}, "
        f"commit {meta['commit']}.  ",
        f"Machine: {meta['machine']}.  ",
        f"Mode: {'--quick (smaller sizes; each row says what it measured)' if meta['quick'] else 'full sizes'}; "
        f"{meta['seconds']:.0f} s in all.",
        "",
        "| Figure | Measured | Baseline (same run) | Ratio | Target | Met? |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        met = {True: "yes", False: "**no**", None: "-"}[r["met"]]
        size = f" ({r['size']})" if r["size"] else ""
        lines.append(f"| {r['figure']}{size} | {r['value']} | {r['baseline']} | {r['ratio']} | {r['target']} | {met} |")
    if meta["failed"]:
        lines += ["", "Scripts that failed: " + ", ".join(meta["failed"])]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="the table's full sizes (long: 1M-file search, 100k files)")
    ap.add_argument("--only", help="comma-separated script names (without .py)")
    ap.add_argument("--all", action="store_true", help="also the other bench/ scripts")
    ap.add_argument("--out", default=str(HERE / "results"), help="output path without extension")
    args = ap.parse_args()
    scripts = TABLE + (OTHERS if args.all else [])
    if args.only:
        wanted = [s.strip().removesuffix(".py") for s in args.only.split(",") if s.strip()]
        unknown = [s for s in wanted if not (HERE / f"{s}.py").exists()]
        if unknown:
            print(f"no such bench script: {', '.join(unknown)}", file=sys.stderr)
            return 2
        scripts = wanted
    start = time.perf_counter()
    failed: list[str] = []
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        sink = Path(tmp) / "rows.jsonl"
        env = {**os.environ, RESULTS_ENV: str(sink)}
        for name in scripts:
            cmd = [sys.executable, str(HERE / f"{name}.py")]
            if name in TABLE and not args.full:
                cmd.append("--quick")
            print(f"\n== {name} {' '.join(cmd[2:])}", flush=True)
            t0 = time.perf_counter()
            if subprocess.run(cmd, env=env, cwd=REPO).returncode != 0:
                failed.append(name)
            print(f"== {name}: {time.perf_counter() - t0:.0f} s", flush=True)
        if sink.exists():
            rows = [json.loads(line) for line in sink.read_text().splitlines() if line.strip()]
    meta = {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "commit": commit(),
            "machine": machine(), "quick": not args.full, "seconds": time.perf_counter() - start,
            "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None, "failed": failed}  # fmt: skip
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(rows, meta))
    print(f"\n{len(rows)} rows: {out.with_suffix('.md')} and {out.with_suffix('.json')}")
    print(markdown(rows, meta))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
