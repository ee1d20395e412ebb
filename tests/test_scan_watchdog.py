"""The scan's watchdog: a reader process stuck inside C code (where the per-file
budget's signal cannot reach) is killed by the scanning process and replaced; that
file gets its error, every other file is catalogued, and no worker is left behind.

The stuck reader is a real plugin (registered like any reader plugin) that blocks
SIGALRM and then sleeps inside libc's ``sleep()`` through ctypes: a real C call that
nothing but a kill ends. Real worker processes, real SIGKILL, real /proc.
"""

from __future__ import annotations

import ctypes
import faulthandler
import multiprocessing
import os
import signal
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from process_support import children

from printmanager_core import Library, hookimpl, plugins
from printmanager_core.readers.base import Limits, ReadError, ReadResult, Source

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; SIGALRM")

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
CUBE = CORPUS / "uranium" / "simpleTestCubeBinary.stl"
#: longer than any test waits: if the watchdog does not act, the test fails on time
C_SLEEP_S = 90


def _in_worker() -> None:
    if multiprocessing.parent_process() is None:  # never block the test process itself
        raise ReadError("this test reader only runs in scan worker processes")


def _note_pid(source: Source) -> None:
    """The file's content names a file where the worker writes its pid."""
    Path(source.read_bytes().decode()).write_text(str(os.getpid()))


class StuckInC:
    """``.cstuck``: blocks SIGALRM (the budget's timer) and sleeps inside one C call."""

    name = "stuck-in-c"
    extensions = (".cstuck",)

    def read(self, source: Source) -> ReadResult:
        _in_worker()
        _note_pid(source)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        ctypes.CDLL(None).sleep(C_SLEEP_S)
        return ReadResult(format="stuck-in-c")


class CrashesInC:
    """``.crash``: the reader process dies of a segmentation fault, as a C bug would make it."""

    name = "crashes"
    extensions = (".crash",)

    def read(self, source: Source) -> ReadResult:
        _in_worker()
        _note_pid(source)
        faulthandler.disable()  # the test run's traceback printer: a plain crash, as in use
        os.kill(os.getpid(), signal.SIGSEGV)
        return ReadResult(format="crashes")


class HostileReaders:
    @hookimpl
    def register_readers(self, register: Any) -> None:
        register(StuckInC())
        register(CrashesInC())


@pytest.fixture
def hostile_readers():  # type: ignore[no-untyped-def]
    plugins.register_plugin(HostileReaders(), name="hostile-c-readers")
    yield
    plugins.unregister_plugin("hostile-c-readers")


#: children of the test process alive before this module's tests (multiprocessing's
#: resource tracker, started by an earlier test's spawn pool, lives as long as pytest)
_BEFORE: set[int] = set()


@pytest.fixture(autouse=True)
def _known_children() -> None:
    _BEFORE.clear()
    _BEFORE.update(children(os.getpid()))


def _new_children() -> list[int]:
    """Children of the test process that this test left behind."""
    return [pid for pid in children(os.getpid()) if pid not in _BEFORE]




def _exists(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}")


def _folder(root: Path, copies: int) -> dict[str, Path]:
    """Real cubes and 600 KB STLs (enough to read in worker processes), plus the hostile files."""
    root.mkdir()
    for i in range(copies):
        data = CUBE.read_bytes()
        (root / f"cube{i}.stl").write_bytes(f"cube{i}".encode().ljust(80) + data[80:])
        (root / f"pad{i}.stl").write_bytes(f"pad{i}".encode().ljust(80) + data[80:84] + b"\0" * (600 * 1024))
    pids = {name: root.parent / f"{name}.pid" for name in ("stuck", "member", "crash")}
    (root / "forever.cstuck").write_text(str(pids["stuck"]))
    (root / "segfault.crash").write_text(str(pids["crash"]))
    with zipfile.ZipFile(root / "pack.zip", "w") as zf:
        zf.write(CUBE, "parts/cube.stl")
        zf.writestr("parts/forever.cstuck", str(pids["member"]))
    return pids


def test_a_reader_stuck_in_c_is_killed_and_the_scan_goes_on(tmp_path: Path, hostile_readers: None) -> None:
    copies = 8
    pids = _folder(tmp_path / "models", copies)
    models = tmp_path / "models"
    limits = Limits(max_seconds_per_file=0.5, watchdog_grace_seconds=0.5)
    assert _new_children() == []
    start = time.monotonic()
    with Library(tmp_path / "lib", limits=limits) as lib:
        report = lib.scan([models], workers=2, thumbnails=False)
        took = time.monotonic() - start
        assert took < C_SLEEP_S / 3, f"the scan waited for the stuck reader ({took:.0f} s)"

        assert lib.file(models / "forever.cstuck").error == "took longer than 0.5 s to read"
        assert lib.file(models / "segfault.crash").error == "its reader process died (signal 11)"
        # the archive with a stuck member is one file in error; nothing of it is half-kept
        assert lib.file(models / "pack.zip").error == "took longer than 0.5 s to read"
        for i in range(copies):
            cube = lib.file(models / f"cube{i}.stl")
            assert cube.error is None and cube.triangles == 12 and cube.hash
            pad = lib.file(models / f"pad{i}.stl")
            assert pad.error is None and pad.hash
        assert report.added == 2 * copies + 3
        assert report.errors == 3
        assert not report.interrupted

    # every worker that ran the hostile readers is gone (killed and reaped), and none is left
    for name, pid_file in pids.items():
        assert pid_file.exists(), f"the {name} reader never ran"
        assert not _exists(int(pid_file.read_text())), f"the {name} worker is still there"
    assert _new_children() == []
    assert multiprocessing.active_children() == []


def test_the_watchdog_kills_only_past_the_budget_and_its_grace(tmp_path: Path, hostile_readers: None) -> None:
    """A worker is stopped at about budget + grace, not before (a slow but honest file keeps its time)."""
    models = tmp_path / "models"
    _folder(models, 8)
    for extra in ("segfault.crash", "pack.zip"):
        (models / extra).unlink()
    limits = Limits(max_seconds_per_file=1.0, watchdog_grace_seconds=2.0)
    start = time.monotonic()
    with Library(tmp_path / "lib", limits=limits) as lib:
        lib.scan([models], workers=2, thumbnails=False)
        took = time.monotonic() - start
        assert lib.file(models / "forever.cstuck").error == "took longer than 1 s to read"
        assert len(lib.files()) == 17
    assert 3.0 <= took < 30, took
    assert _new_children() == []


def test_no_budget_means_no_watchdog_but_dead_workers_are_still_handled(
    tmp_path: Path, hostile_readers: None
) -> None:
    models = tmp_path / "models"
    _folder(models, 8)
    for extra in ("forever.cstuck", "pack.zip"):
        (models / extra).unlink()
    with Library(tmp_path / "lib", limits=Limits(max_seconds_per_file=None)) as lib:
        report = lib.scan([models], workers=2, thumbnails=False)
        assert lib.file(models / "segfault.crash").error == "its reader process died (signal 11)"
        assert report.added == 17 and report.errors == 1
    assert _new_children() == []


def _square_or_hang(x: int, stuck: int, crash: int) -> int:
    if x == stuck:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        ctypes.CDLL(None).sleep(C_SLEEP_S)
    if x == crash:
        faulthandler.disable()
        os.kill(os.getpid(), signal.SIGSEGV)
    time.sleep(0.2 if x % 5 == 0 else 0.01)  # uneven tasks: the tail is shared out
    return x * x


def _gave_up(x: int, reason: str) -> str:
    return f"gave up on {x}: {reason}"


def test_watched_pool_yields_every_item_exactly_once() -> None:
    from printmanager_core.watchdog import WatchedPool

    ctx = multiprocessing.get_context("fork")
    pool: WatchedPool[int, object] = WatchedPool(2, ctx, read_one=_square_or_hang, give_up=_gave_up,
                                                 deadline_s=0.5, deadline_reason="took too long")
    tasks = [list(range(i, min(i + 3, 40))) for i in range(0, 40, 3)]
    with pool:
        got = list(pool.run(tasks, (7, 13)))
    assert sorted(x for x, _ in got) == list(range(40))  # each once: none lost, none twice
    results = dict(got)
    assert results[7] == "gave up on 7: took too long"
    assert results[13] == "gave up on 13: its reader process died (signal 11)"
    assert all(results[x] == x * x for x in range(40) if x not in (7, 13))
    assert pool.replaced == 2
    assert _new_children() == []
