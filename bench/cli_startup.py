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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    add_quick(ap)
    ap.add_argument("--runs", type=int, help="runs of each (default 21, --quick 11)")
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
        modules = subprocess.run([sys.executable, "-X", "importtime", "-c", probe], env=env, capture_output=True,
                                 text=True, check=True).stderr.count("import time:") - 1  # fmt: skip
    wall, cpu = statistics.median(w for w, _ in a), statistics.median(c for _, c in a)
    bwall, bcpu = statistics.median(w for w, _ in b), statistics.median(c for _, c in b)
    emit("CLI start-up (printmanager ls on a small library) p50", f"{cpu:.0f} ms CPU ({wall:.0f} ms wall)",
         f"bare python -c pass {bcpu:.0f} ms CPU ({bwall:.0f} ms wall)", f"{cpu / bcpu:.1f}x bare python",
         "p50 <= 120 ms", cpu <= 120, size=f"{runs} interleaved runs each; ls imports {modules} modules",
         quick=args.quick, detail={"cpu_ms": cpu, "wall_ms": wall, "bare_cpu_ms": bcpu, "bare_wall_ms": bwall,
                                   "modules": modules, "runs_ms": a})  # fmt: skip

if __name__ == "__main__":
    main()
