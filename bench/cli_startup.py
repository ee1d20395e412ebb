"""CLI start-up: `printmanager ls` on a small library, as a whole process.

Figure: p50 wall milliseconds of `printmanager ls` (start-up, plugin loading,
opening the library, one page of output) on a library of the corpus' uranium
folder, and p50 of its CPU time (user + system). Baseline in the same run,
interleaved run by run: a bare `python -c pass` (the interpreter's own
start-up). Target: p50 <= 120 ms. The machine is shared (2 cores, several
sessions), so wall time there waits for a core; the row is judged on CPU
time, the wall time beside it.

Bytecode is compiled first and the children run without PYTHONDONTWRITEBYTECODE
(as an installed package runs, with its .pyc files), so the figure is not the
cost of compiling sources. Also printed: the modules ``ls`` imports.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CORPUS, add_quick, compile_bytecode, emit, process_env  # noqa: E402


def wall_ms(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) milliseconds of one run of ``cmd``: CPU is the child's user + system time."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = (time.perf_counter() - t0) * 1000
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, ((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)) * 1000


def breakdown(importtime: str) -> list[tuple[str, float, int]]:
    """``-X importtime`` output summed by package: (group, self milliseconds, modules), largest first.

    printmanager's readers and the plugins are their own groups; the standard
    library is one group, and so is each third-party distribution.
    """
    groups: dict[str, list[float]] = {}
    stdlib = set(sys.stdlib_module_names)
    for line in importtime.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        try:
            own = float(line.split(":", 1)[1].split("|")[0]) / 1000
        except ValueError:
            continue  # the header line
        name = line.rsplit("|", 1)[1].strip()
        top = name.split(".")[0]
        if name.startswith("printmanager_core.readers"):
            group = "printmanager_core.readers (registered as plugins)"
        elif top == "printmanager_core":
            group = "printmanager_core (the rest)"
        elif top.startswith("printmanager_"):
            group = "plugins (printmanager_*)"
        elif top in stdlib or top.startswith("_"):
            group = "standard library"
        elif top in ("dateutil", "sqlite_fts4", "tabulate", "six"):
            group = "sqlite_utils"
        else:
            group = top
        g = groups.setdefault(group, [0.0, 0])
        g[0] += own
        g[1] += 1
    return sorted(((k, v[0], int(v[1])) for k, v in groups.items()), key=lambda t: -t[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    add_quick(ap)
    ap.add_argument("--runs", type=int, help="runs of each (default 21, --quick 11)")
    ap.add_argument("--breakdown", action="store_true", help="also print ls' import time by package")
    args = ap.parse_args()
    runs = args.runs or (11 if args.quick else 21)
    compile_bytecode()
    exe = str(Path(sys.executable).with_name("printmanager"))
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        shutil.copytree(CORPUS / "uranium", data)
        env = process_env(PRINTMANAGER_LIBRARY=str(Path(tmp) / "lib"))
        subprocess.run([exe, "scan", str(data)], env=env, capture_output=True, check=True)
        ls = [exe, "ls"]
        bare = [sys.executable, "-c", "pass"]
        wall_ms(ls, env), wall_ms(bare, env)  # warm-up
        a: list[tuple[float, float]] = []
        b: list[tuple[float, float]] = []
        for _ in range(runs):  # interleaved, so drift in machine load hits both alike
            a.append(wall_ms(ls, env))
            b.append(wall_ms(bare, env))
        probe = "import sys, runpy; sys.argv = ['printmanager', 'ls']; runpy.run_module('printmanager_core', run_name='__main__')"
        importtime = subprocess.run([sys.executable, "-X", "importtime", "-c", probe], env=env, capture_output=True,
                                    text=True, check=True).stderr  # fmt: skip
        modules = importtime.count("import time:") - 1
    if args.breakdown:
        groups = breakdown(importtime)
        total = sum(ms for _, ms, _ in groups)
        print(f"ls import time by package (one -X importtime run, {total:.0f} ms in all; importtime inflates it):")
        for name, ms, count in groups:
            if ms >= total * 0.01:
                print(f"  {ms:7.1f} ms {ms / total:5.1%}  {count:4d} modules  {name}")
    wall, cpu = statistics.median(w for w, _ in a), statistics.median(c for _, c in a)
    bwall, bcpu = statistics.median(w for w, _ in b), statistics.median(c for _, c in b)
    emit("CLI start-up (printmanager ls on a small library) p50", f"{cpu:.0f} ms CPU ({wall:.0f} ms wall)",
         f"bare python -c pass {bcpu:.0f} ms CPU ({bwall:.0f} ms wall)", f"{cpu / bcpu:.1f}x bare python",
         "p50 <= 120 ms", cpu <= 120, size=f"{runs} interleaved runs each; ls imports {modules} modules",
         quick=args.quick, detail={"cpu_ms": cpu, "wall_ms": wall, "bare_cpu_ms": bcpu, "bare_wall_ms": bwall,
                                   "modules": modules, "runs_ms": a})  # fmt: skip

if __name__ == "__main__":
    main()
