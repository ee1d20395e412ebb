"""A hostile-file run: the known slow and greedy cases (identical large triangles, a 3M-corner
fan face, 300 STLs of random triangles, 32 MiB and 950 MiB XML attributes, a 3MF of 10^7
vertices) plus zip and XML bombs, huge counts and lying headers, scanned by a real
``printmanager scan`` process with thumbnails: it finishes in under 120 s with a peak RSS
under 1.5 GB, and every bad file has its own one-line error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hostile_files import write_all

from printmanager_core import Library

pytestmark = pytest.mark.slow

MAX_SECONDS = 120
MAX_RSS_BYTES = 1.5 * 1024**3
#: runs ``printmanager scan`` as its child and reports its output and the largest RSS of
#: any process of that scan (the scan and its workers: RUSAGE_CHILDREN of this parent)
_MEASURED_SCAN = """
import json, resource, subprocess, sys
proc = subprocess.run([sys.executable, "-m", "printmanager_core", "--library", sys.argv[1], "scan", "--json",
                       sys.argv[2]], capture_output=True, text=True)
print(json.dumps({"returncode": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr,
                  "peak_rss": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024}))
"""


def test_hostile_run_is_bounded_and_every_bad_file_has_its_error(tmp_path: Path, corpus: Path) -> None:
    root = tmp_path / "hostile"
    expect = write_all(root, corpus)
    library = tmp_path / "lib"
    start = time.monotonic()
    # a parent of its own for the scan, so its peak RSS covers that process tree alone
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURED_SCAN, str(library), str(root)],
        capture_output=True, text=True, timeout=MAX_SECONDS * 3,
        env={**os.environ, "PRINTMANAGER_LOAD_PLUGINS": "thumbnails"},
    )
    seconds = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr[-2000:]
    outcome = json.loads(proc.stdout)
    assert outcome["returncode"] == 0, outcome["stderr"][-2000:]
    report = json.loads(outcome["stdout"])
    peak = outcome["peak_rss"]
    print(f"hostile run: {seconds:.1f} s, peak RSS {peak / 1024**2:.0f} MiB, {report['errors']} errors")
    assert seconds < MAX_SECONDS, f"took {seconds:.0f} s"
    assert peak < MAX_RSS_BYTES, f"peak RSS {peak / 1024**2:.0f} MiB"

    with Library(library) as lib:
        files = {f.name: f for f in lib.files()}
        for name, word in expect.items():
            assert name in files, f"{name} not catalogued"
            f = files[name]
            if word == "ok":
                assert f.error is None, (name, f.error)
                continue
            if word == "plain":
                assert f.error is None and f.triangles is None and f.hash, (name, f.error)
                continue
            if word == "open mesh":
                assert f.error is None and "open mesh" in " ".join(f.problems), (name, f.problems)
                continue
            assert f.error, f"{name} has no error"
            assert "\n" not in f.error and len(f.error) <= 500, (name, f.error)
            assert word.lower() in f.error.lower(), (name, f.error)
        # the good file and the heavy-but-valid ones were measured, and got thumbnails
        assert files["good.stl"].triangles == 12 and files["good.stl"].thumbnail
        assert files["identical.obj"].triangles == 100_000 and files["identical.obj"].thumbnail
        assert files["fan.obj"].triangles == 2_999_998 and files["fan.obj"].thumbnail
        assert files["vertices.3mf"].meta.get("placed_objects") == 1
        soups = [f for n, f in files.items() if n.startswith("soup")]
        assert len(soups) == 300 and all(f.triangles == 20_000 for f in soups)
        assert sum(1 for f in soups if f.thumbnail) == 300
