"""Shared helpers for the benchmark scripts (not a benchmark itself).

Every figure of the speed-and-memory table (issue 11) is printed by its script
with :func:`emit`: the figure, the baseline measured in the same run, their
ratio, the target and whether it is met. When ``$PRINTMANAGER_BENCH_RESULTS``
names a file, each row is also appended to it as one JSON line; ``make bench``
(bench/run_all.py) collects those lines into bench/results.md and
bench/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
#: a file of JSON lines: where :func:`emit` appends its rows (set by bench/run_all.py)
RESULTS_ENV = "PRINTMANAGER_BENCH_RESULTS"


def timed(fn: Callable[[], object], repeat: int = 1) -> float:
    """Best wall-clock seconds of ``repeat`` runs of ``fn``."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def paired(a: Callable[[], object], b: Callable[[], object], repeat: int) -> tuple[float, float, float]:
    """Run ``a`` and ``b`` alternately ``repeat`` times: (median a, median b, median of the a/b ratios).

    Pairing each run of the figure with a run of its baseline, and taking medians,
    keeps a load change on the shared machine from landing on one side only.
    """
    ta: list[float] = []
    tb: list[float] = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        a()
        ta.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        b()
        tb.append(time.perf_counter() - t0)
    return statistics.median(ta), statistics.median(tb), statistics.median(x / y for x, y in zip(ta, tb))


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of values."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def add_quick(ap: argparse.ArgumentParser) -> None:
    """The ``--quick`` switch every table script has: smaller sizes, for ``make bench`` here."""
    ap.add_argument("--quick", action="store_true",
                    help="smaller sizes (make bench's default on a shared machine); the figure says which")  # fmt: skip


def process_env(**extra: str) -> dict[str, str]:
    """The environment for a measured child process: as a user's, so bytecode caches are used.

    ``PYTHONDONTWRITEBYTECODE`` (set on this machine) is dropped: an installed
    package has its .pyc files, and compiling sources on every start is not a
    cost users pay.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(extra)
    return env


def compile_bytecode() -> None:
    """Write the .pyc files of printmanager's own packages (as an installed package has them)."""
    import compileall

    for sub in ("printmanager_core", "plugins"):
        compileall.compile_dir(str(REPO / sub), quiet=1)


def run_child(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run ``cmd`` to completion: (wall seconds, CPU seconds of it and its children).

    CPU time is user + system of the process and every process it waited for
    (a scan's reader workers). On a shared machine wall time includes waiting
    for a core; CPU time does not, so the rows are judged on CPU time with the
    wall time beside it.
    """
    import resource
    import subprocess

    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def row(label: str, value: str, baseline: str, verdict: str) -> None:
    """One printed line of a script's own detail (not a table row)."""
    print(f"{label:<44} {value:>14}   {baseline:<40} {verdict}")


def emit(figure: str, value: str, baseline: str, ratio: str, target: str, met: bool | None,
         *, size: str = "", quick: bool = False, detail: dict[str, Any] | None = None) -> None:  # fmt: skip
    """One row of the issue-11 table: printed, and appended to ``$PRINTMANAGER_BENCH_RESULTS``.

    ``figure`` names the row as the table does; ``value`` is the figure measured,
    ``baseline`` what it is compared with in the same run and ``ratio`` the two
    side by side; ``met`` is None when the target is not a yes/no. ``size`` says
    what was measured (smaller under ``--quick``); ``detail`` carries the raw numbers.
    """
    verdict = {True: "MET", False: "NOT MET", None: "-"}[met]
    print(f"[{verdict}] {figure}{f' ({size})' if size else ''}\n"
          f"    figure {value} | baseline {baseline} | {ratio} | target {target}")  # fmt: skip
    out = os.environ.get(RESULTS_ENV)
    if out:
        record = {"figure": figure, "value": value, "baseline": baseline, "ratio": ratio, "target": target,
                  "met": met, "size": size, "quick": quick, "script": Path(sys.argv[0]).name,
                  "detail": detail or {}}  # fmt: skip
        with open(out, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")


def machine() -> str:
    """One line describing this machine (CPU, cores, memory, Python)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024**2:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def tiny_stls(dest: Path, n: int, start: int = 0) -> list[Path]:
    """``n`` small real binary STLs (the corpus' 12-triangle cube), 10 per model folder.

    The header differs per file, so every file has its own hash.
    """
    src = (CORPUS / "uranium" / "simpleTestCubeBinary.stl").read_bytes()
    out = []
    for i in range(start, start + n):
        folder = dest / f"model{i // 10:06d}"
        if i % 10 == 0 or i == start:
            folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"part{i % 10}.stl"
        path.write_bytes(f"part {i}".encode().ljust(80, b" ") + src[80:])
        out.append(path)
    return out
