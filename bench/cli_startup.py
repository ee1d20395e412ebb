"""CLI start-up: `printmanager ls` on a small library, as a whole process.

Figure: p50 wall milliseconds of `printmanager ls` (start-up, plugin loading,
opening the library, one page of output) on a library of the corpus' uranium
folder. Baseline in the same run, interleaved run by run: a bare
`python -c pass` (the interpreter's own start-up). Target: p50 <= 120 ms.

Bytecode is compiled first (as an installed package has it), so the figure is
not the cost of compiling sources when PYTHONDONTWRITEBYTECODE is set.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CORPUS, REPO, row  # noqa: E402


def wall_ms(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - t0) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    for sub in ("printmanager_core", "plugins"):
        compileall.compile_dir(str(REPO / sub), quiet=1)
    exe = str(Path(sys.executable).with_name("printmanager"))
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        shutil.copytree(CORPUS / "uranium", data)
        env = {**os.environ, "PRINTMANAGER_LIBRARY": str(Path(tmp) / "lib")}
        subprocess.run([exe, "scan", str(data)], env=env, capture_output=True, check=True)
        ls = [exe, "ls"]
        bare = [sys.executable, "-c", "pass"]
        wall_ms(ls, env), wall_ms(bare, env)  # warm-up
        a: list[float] = []
        b: list[float] = []
        for _ in range(args.runs):  # interleaved, so drift in machine load hits both alike
            a.append(wall_ms(ls, env))
            b.append(wall_ms(bare, env))
    p50, base = statistics.median(a), statistics.median(b)
    print(f"cli start-up: printmanager ls on a small library, {args.runs} runs each, interleaved")
    row("printmanager ls p50 (ms)", f"{p50:.0f}", f"bare python start-up p50 {base:.0f} ms",
        f"{p50 / base:.1f}x bare; {'meets' if p50 <= 120 else 'misses'} target <= 120 ms")


if __name__ == "__main__":
    main()
