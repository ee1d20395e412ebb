"""Bounded work per file: a time budget and a memory bound around one read or render.

    from printmanager_core import budget

    try:
        with budget.limit(seconds=60, memory_bytes=2 * 1024**3):
            result = reader.read(source)
    except budget.OverBudget as exc:
        error = exc.message("read")          # "took longer than 60 s to read"

Time. In the main thread of a process (where Python delivers signals) the
deadline is a real-time interval timer (``setitimer``/``SIGALRM``): when it
fires, :class:`OverBudget` is raised in whatever Python code is running. Long
loops also call :func:`check`, which raises the same way in any thread (a
library embedded in a threaded host reads off the main thread, where no signal
can reach). Work inside one C call (a numpy sort, a regular-expression search)
is not interrupted until it returns: every reader keeps such calls bounded by
the size of its input instead. Deadlines nest (the inner one can only be
earlier); the timer and handler that were there before are restored on exit.

Memory. In a worker process on Linux, :func:`limit` also lowers the soft
``RLIMIT_DATA`` of the process to what it uses now plus ``memory_bytes`` (and
restores it on exit), so an allocation past the bound fails with
``MemoryError`` — caught and reported for that file — instead of taking the
machine's memory. Elsewhere (the main process, which may be a host
application's; other systems) the bound is not set: the readers' own checks of
declared counts against the file's bytes are what bound their memory.

:class:`OverBudget` derives from ``BaseException``, like ``KeyboardInterrupt``,
so a reader's or plugin's ``except Exception`` cannot swallow it.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

__all__ = ["OverBudget", "check", "limit", "on_work_start", "remaining"]


class OverBudget(BaseException):
    """The work took longer than its time budget."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"took longer than {_format_seconds(seconds)} s")
        self.seconds = seconds

    def message(self, verb: str = "read") -> str:
        """The one-line error: ``took longer than N s to <verb>``."""
        return f"took longer than {_format_seconds(self.seconds)} s to {verb}"


def _format_seconds(seconds: float) -> str:
    return f"{seconds:g}" if seconds < 10 else f"{seconds:.0f}"


class _State(threading.local):
    def __init__(self) -> None:
        #: (deadline on the monotonic clock, budget in seconds), innermost last
        self.deadlines: list[tuple[float, float]] = []


_state = _State()


def remaining() -> float | None:
    """Seconds left of the innermost budget of this thread (None when there is none)."""
    if not _state.deadlines:
        return None
    return _state.deadlines[-1][0] - time.monotonic()


def check() -> None:
    """Raise :class:`OverBudget` when this thread's budget is used up (cheap: call it in long loops)."""
    deadlines = _state.deadlines
    if deadlines and time.monotonic() >= deadlines[-1][0]:
        raise OverBudget(deadlines[-1][1])


def _alarm(signum: int, frame: Any) -> None:
    deadlines = _state.deadlines  # the handler runs in the main thread: its own state
    if not deadlines:
        return
    left = deadlines[-1][0] - time.monotonic()
    if left <= 0:
        raise OverBudget(deadlines[-1][1])
    signal.setitimer(signal.ITIMER_REAL, max(left, 0.001))  # woke early: wait for the rest


def _can_signal() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


#: called when an outermost budget begins (see :func:`on_work_start`)
_work_start: Callable[[], None] | None = None


def on_work_start(callback: Callable[[], None] | None) -> None:
    """Have ``callback`` called whenever an outermost budgeted block begins in this process.

    The scanner's worker processes use it to tell the parent's watchdog
    (:mod:`.watchdog`) that a new piece of work, with a budget of its own, has
    started (an archive's next member, say). None removes it.
    """
    global _work_start
    _work_start = callback


@contextmanager
def limit(seconds: float | None = None, memory_bytes: int | None = None) -> Iterator[None]:
    """Run the block under a time budget and (in worker processes on Linux) a memory bound.

    :param seconds: the budget; None or ``inf`` for none. An enclosing budget
        that ends sooner still applies.
    :param memory_bytes: at most this much more memory for the process while the
        block runs (see the module docstring for where it is enforced); None for no bound.
    :raises OverBudget: the block ran past the budget.
    """
    if _work_start is not None and not _state.deadlines:
        _work_start()
    with _memory_bound(memory_bytes), _deadline(seconds):
        yield


@contextmanager
def _deadline(seconds: float | None) -> Iterator[None]:
    if seconds is None or not math.isfinite(seconds):
        yield
        return
    if seconds <= 0:
        raise ValueError("a time budget must be more than 0 seconds")
    now = time.monotonic()
    deadline = now + seconds
    deadlines = _state.deadlines
    depth = len(deadlines)
    if deadlines and deadlines[-1][0] <= deadline:
        deadlines.append(deadlines[-1])  # the enclosing budget ends first: it stays in force
    else:
        deadlines.append((deadline, seconds))
    use_signal = _can_signal()
    previous_handler: Any = None
    previous_timer = (0.0, 0.0)
    if use_signal:
        previous_handler = signal.signal(signal.SIGALRM, _alarm)
        previous_timer = signal.setitimer(signal.ITIMER_REAL, max(deadlines[-1][0] - now, 0.001))
    try:
        yield
        check()  # a budget that ran out in C code (no Python ran to notice) still counts
    finally:
        # nested so that an alarm arriving on the way out cannot leave the state behind
        try:
            if use_signal:
                signal.setitimer(signal.ITIMER_REAL, 0)
        finally:
            del deadlines[depth:]
            if use_signal:
                signal.signal(signal.SIGALRM, previous_handler)
                if previous_timer[0] > 0:  # someone else's timer: give back what is left of it
                    left = previous_timer[0] - (time.monotonic() - now)
                    signal.setitimer(signal.ITIMER_REAL, max(left, 0.001), previous_timer[1])


# --- memory ------------------------------------------------------------------------


#: (pid, fd) of this process's open ``/proc/self/status`` (re-opened after a fork: the
#: inherited one would read the parent's)
_status: tuple[int, int] | None = None


def _data_bytes() -> int | None:
    """This process's data segment size (``VmData``), or None where it cannot be read.

    The status file stays open and is read again from its start (the kernel writes it
    afresh for every read): opening it and going through it line by line cost half
    again as much, once a file read in a worker."""
    global _status
    pid = os.getpid()
    try:
        if _status is None or _status[0] != pid:
            _status = (pid, os.open("/proc/self/status", os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)))
        text = os.pread(_status[1], 16384, 0)
        at = text.index(b"\nVmData:") + 8
        return int(text[at : text.index(b"kB", at)]) * 1024
    except (OSError, ValueError):
        return None


def _can_bound_memory() -> bool:
    # a multiprocessing worker has imported multiprocessing (to start): a process that has not
    # is no worker, and needs not pay for the import to find that out
    multiprocessing = sys.modules.get("multiprocessing")
    return (
        sys.platform.startswith("linux")
        and multiprocessing is not None
        and multiprocessing.parent_process() is not None
        and threading.current_thread() is threading.main_thread()
    )


@contextmanager
def _memory_bound(memory_bytes: int | None) -> Iterator[None]:
    if memory_bytes is None or not _can_bound_memory():
        yield
        return
    import resource

    used = _data_bytes()
    if used is None:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    want = used + memory_bytes
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if soft != resource.RLIM_INFINITY and soft <= want:
        yield  # a tighter bound is already in force
        return
    resource.setrlimit(resource.RLIMIT_DATA, (want, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))
