"""Bounded work per file: the time budget (signal and cooperative), the memory bound in
worker processes, and both applied by scans and thumbnails to real plugins."""

from __future__ import annotations

import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from printmanager_core import Library, budget, hookimpl, plugins
from printmanager_core.readers.base import Limits, ReadResult, Source

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
CUBE = CORPUS / "uranium" / "simpleTestCubeBinary.stl"


def test_budget_stops_python_code_in_the_main_thread() -> None:
    start = time.monotonic()
    with pytest.raises(budget.OverBudget) as err:
        with budget.limit(0.3):
            while True:  # no cooperative check: the timer stops it
                sum(range(1000))
    assert 0.25 < time.monotonic() - start < 3
    assert err.value.message("read") == "took longer than 0.3 s to read"
    assert budget.remaining() is None
    with budget.limit(5):
        assert 4 < (budget.remaining() or 0) <= 5
        with budget.limit(60):  # an inner budget cannot outlast the outer one
            assert (budget.remaining() or 0) <= 5


def test_budget_restores_a_previous_alarm() -> None:
    fired: list[int] = []
    old = signal.signal(signal.SIGALRM, lambda *_: fired.append(1))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.6)
        with budget.limit(10):
            time.sleep(0.05)
        assert signal.getsignal(signal.SIGALRM) is not budget._alarm
        time.sleep(1.0)
        assert fired == [1]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_budget_off_the_main_thread_is_cooperative() -> None:
    outcome: list[str] = []

    def work() -> None:
        try:
            with budget.limit(0.2):
                while True:
                    time.sleep(0.01)
                    budget.check()
        except budget.OverBudget as exc:
            outcome.append(exc.message("read"))

    t = threading.Thread(target=work)
    t.start()
    t.join(5)
    assert outcome == ["took longer than 0.2 s to read"]


class Stuck:
    """A reader that never finishes (``.stuck``) and one that wants too much memory (``.greedy``)."""

    name = "stuck"
    extensions = (".stuck",)

    def read(self, source: Source) -> ReadResult:
        while True:  # pure Python: only the budget's timer can stop it
            sum(range(1000))


class Greedy:
    name = "greedy"
    extensions = (".greedy",)

    def read(self, source: Source) -> ReadResult:
        blob = np.empty(2 * 1024**3 // 8)  # 2 GiB, far past the bound below (not touched)
        blob[0] = 1
        return ReadResult(format="greedy", triangles=int(blob[0]))


class SlowReaders:
    @hookimpl
    def register_readers(self, register: Any) -> None:
        register(Stuck())
        register(Greedy())


@pytest.fixture
def slow_readers():  # type: ignore[no-untyped-def]
    plugins.register_plugin(SlowReaders(), name="slow-readers")
    yield
    plugins.unregister_plugin("slow-readers")


def _folder(root: Path, copies: int) -> Path:
    root.mkdir()
    for i in range(copies):
        shutil.copy(CUBE, root / f"cube{i}.stl")
        # big enough that the scan reads in worker processes when there are workers
        (root / f"pad{i}.stl").write_bytes(CUBE.read_bytes()[:84] + b"\0" * (600 * 1024))
    (root / "forever.stuck").write_bytes(b"x")
    (root / "huge.greedy").write_bytes(b"x")
    return root


@pytest.mark.parametrize("workers", [1, 2])
def test_scan_gives_a_stuck_or_greedy_reader_an_error_and_goes_on(
    tmp_path: Path, slow_readers: None, workers: int
) -> None:
    models = _folder(tmp_path / "models", 8)
    limits = Limits(max_seconds_per_file=1.0, max_memory_bytes=256 * 1024**2)
    start = time.monotonic()
    with Library(tmp_path / "lib", limits=limits) as lib:
        report = lib.scan([models], workers=workers, thumbnails=False)
        assert time.monotonic() - start < 30
        assert lib.file(models / "forever.stuck").error == "took longer than 1 s to read"
        greedy = lib.file(models / "huge.greedy").error
        for i in range(8):
            assert lib.file(models / f"cube{i}.stl").triangles == 12
        assert report.added == 18
    if workers == 1:
        # in-process (the main process may be a host application's) no memory bound is set:
        # the allocation is the machine's to grant; it succeeds here
        assert greedy is None
    else:
        assert greedy == "file too large to read in memory"


class SlowPicture:
    @hookimpl(specname="make_thumbnail", tryfirst=True)
    def make_thumbnail(self, library: Any, file: Any, size: int) -> Any:
        while True:
            sum(range(1000))


def test_thumbnail_has_the_same_budget(tmp_path: Path) -> None:
    from printmanager_thumbnails import ThumbnailError, thumbnail

    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(CUBE, models / "cube.stl")
    plugins.register_plugin(SlowPicture(), name="slow-picture")
    try:
        with Library(tmp_path / "lib", limits=Limits(max_seconds_per_file=0.5)) as lib:
            lib.scan([models], workers=1, thumbnails=False)
            start = time.monotonic()
            with pytest.raises(ThumbnailError, match=r"^cube\.stl: took longer than 0\.5 s to draw$"):
                thumbnail(lib, models / "cube.stl")
            assert time.monotonic() - start < 5
    finally:
        plugins.unregister_plugin("slow-picture")
