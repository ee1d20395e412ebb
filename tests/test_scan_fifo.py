"""Files swapped between the walk and the read, and workers that die with their parent.

Real FIFOs made with mkfifo, real symlinks, a real CLI scan killed with ``kill -9``.
Each scan runs in a child process with a timeout, so a hang fails the test
instead of hanging the suite.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from process_support import children

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")

# Runs a scan of ROOT; when reading starts (the walk is over), swaps each file in
# SWAP for what KIND says, then prints the report as JSON.
SWAP_SCRIPT = textwrap.dedent("""
    import json, os, sys
    from printmanager_core import Library

    root, lib_dir, workers, kind, *swap = sys.argv[1:]
    outside = os.path.join(os.path.dirname(root), "outside.txt")
    with open(outside, "w") as fh:
        fh.write("not to be read")

    def progress(done, total):
        if done == 0:
            for path in swap:
                os.unlink(path)
                if kind == "fifo":
                    os.mkfifo(path)
                else:
                    os.symlink(outside, path)

    with Library(lib_dir) as lib:
        report = lib.scan([root], workers=int(workers), progress=progress, thumbnails=False)
        print(json.dumps({"report": report.as_json(),
                          "files": {f.path: [f.error, f.hash] for f in lib.files()}}))
""")


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a child in its own process group; on timeout kill the whole group (its
    workers too) and fail, so a hung scan leaves nothing behind."""
    child = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        out, err = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        pytest.fail(f"the scan hung for {timeout} s")
    return subprocess.CompletedProcess(child.args, child.returncode, out, err)


def _tree(root: Path, corpus: Path, copies: int) -> list[Path]:
    """``copies`` real STL files of ~0.8 MB in one model folder (enough to read in parallel)."""
    model = root / "screws"
    model.mkdir(parents=True)
    data = (corpus / "prusaslicer-shapes" / "M3x10_screw.stl").read_bytes()
    paths = []
    for i in range(copies):
        p = model / f"screw{i:02d}.stl"
        p.write_bytes(data[:79] + bytes([i]) + data[80:])
        paths.append(p)
    return paths


@pytest.mark.parametrize("workers", [1, 2])
def test_fifo_swapped_in_between_walk_and_read_never_hangs(tmp_path: Path, corpus: Path, workers: int) -> None:
    paths = _tree(tmp_path / "root", corpus, 10)
    swapped = [paths[3], paths[7]]
    # before the fix: blocked in open() forever
    out = _run("-c", SWAP_SCRIPT, str(tmp_path / "root"), str(tmp_path / "lib"), str(workers), "fifo",
               *map(str, swapped))
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["report"]["errors"] == 2 and data["report"]["added"] == 10
    for p in swapped:
        error, digest = data["files"][str(p)]
        assert error == "cannot read file: a named pipe (FIFO), not a regular file" and digest is None
    assert sum(1 for e, h in data["files"].values() if e is None and h) == 8


def test_symlink_swapped_in_is_not_followed(tmp_path: Path, corpus: Path) -> None:
    paths = _tree(tmp_path / "root", corpus, 3)
    out = _run("-c", SWAP_SCRIPT, str(tmp_path / "root"), str(tmp_path / "lib"), "1", "symlink", str(paths[1]))
    assert out.returncode == 0, out.stderr
    error, digest = json.loads(out.stdout)["files"][str(paths[1])]
    assert error == "cannot read file: a symlink, not a regular file (swapped in after the walk; not followed)" and digest is None




def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_killing_a_cli_scan_leaves_no_worker_behind(tmp_path: Path, corpus: Path) -> None:
    _tree(tmp_path / "root", corpus, 40)
    for i in range(2):  # 120 files of 0.8 MB: two workers busy for a few seconds
        src = tmp_path / "root" / "screws"
        dst = tmp_path / "root" / f"screws{i}"
        dst.mkdir()
        for p in src.iterdir():
            data = p.read_bytes()
            (dst / p.name).write_bytes(data[:70] + bytes([i + 1]) + data[71:])
    scan = subprocess.Popen(
        [sys.executable, "-m", "printmanager_core", "--library", str(tmp_path / "lib"), "scan",
         str(tmp_path / "root"), "--workers", "2", "--no-thumbnails"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(workers) < 2 and scan.poll() is None:
            # forked workers share the scan's command line (unlike a resource tracker)
            workers = [k for k in children(scan.pid) if _alive(k) and _cmdline(k) == _cmdline(scan.pid)]
            time.sleep(0.005)
        assert len(workers) == 2, "the scan finished before its workers could be seen"
        os.kill(scan.pid, signal.SIGKILL)
        scan.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.05)
        survivors = [w for w in workers if _alive(w)]
        assert survivors == [], f"workers {survivors} outlived their parent"
        # and the next scan completes the catalogue
        again = subprocess.run(
            [sys.executable, "-m", "printmanager_core", "--library", str(tmp_path / "lib"), "scan", "--json",
             "--no-thumbnails"], capture_output=True, text=True, timeout=300,
        )
        assert again.returncode == 0, again.stderr
        report = json.loads(again.stdout)
        assert report["added"] + report["unchanged"] + report["updated"] == 120 and report["errors"] == 0
    finally:
        if scan.poll() is None:
            scan.kill()
        for w in workers:
            if _alive(w):
                os.kill(w, signal.SIGKILL)
