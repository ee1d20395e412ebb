"""The library's write lock: one writing job (a scan, a delete…) at a time.

A lock file in the library folder (``printmanager.lock``, mode 0600) is locked
with ``fcntl.flock`` on POSIX and ``msvcrt.locking`` on Windows, so the
operating system releases it when the holding process ends, however it ends
(``kill -9`` included): there is never a stale lock to clean up. The file's
text says who holds it (``<pid> <job>``) so a second writer can say whom it
waits for. Within one process the lock is also a re-entrant thread lock, so
threads sharing a :class:`~printmanager_core.Library` take turns too.

Why not ``filelock``: it truncates the lock file when it opens it, which would
wipe the holder's pid that the waiting message names; the part we need is the
few lines below.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

from .errors import LibraryBusy, os_error

LOCK_NAME = "printmanager.lock"

#: seconds between tries while waiting (grows from the first to the second)
_POLL = (0.02, 0.25)


class Holder(NamedTuple):
    """Who holds a write lock, as its lock file says."""

    pid: int | None
    job: str

    def describe(self) -> str:
        """``"another scan of this library is running (pid 123)"``."""
        pid = f"pid {self.pid}" if self.pid else "pid unknown"
        return f"another {self.job} of this library is running ({pid})"


_held: "weakref.WeakSet[WriteLock]" = weakref.WeakSet()


class WriteLock:
    """The write lock of one library folder (one instance per :class:`Library`).

    :param path: the lock file (created 0600 when missing).
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None
        self._job = ""

    # -- public ------------------------------------------------------------

    @contextlib.contextmanager
    def hold(
        self,
        job: str,
        *,
        timeout: float | None = None,
        on_wait: Callable[[Holder], None] | None = None,
    ) -> Iterator[None]:
        """Hold the lock for the block (re-entrant within a thread).

        :param job: what the holder does, in the waiting message ("scan").
        :param timeout: seconds to wait for another holder; None waits as long as
            it takes, 0 refuses at once.
        :param on_wait: called once, with the holder, when the lock is taken and
            this call has to wait.
        :raises LibraryBusy: when the lock is still held after ``timeout``.
        """
        self.acquire(job, timeout=timeout, on_wait=on_wait)
        try:
            yield
        finally:
            self.release()

    def acquire(
        self, job: str, *, timeout: float | None = None, on_wait: Callable[[Holder], None] | None = None
    ) -> None:
        """Take the lock; see :meth:`hold`."""
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        told = False
        if not self._thread_lock.acquire(blocking=False):
            # another thread of this process holds it
            holder = Holder(os.getpid(), self._job or "writer")
            if timeout == 0:
                raise self._busy(holder)
            if on_wait is not None:
                on_wait(holder)
                told = True
            if not self._thread_lock.acquire(timeout=-1 if deadline is None else max(0.0, deadline - time.monotonic())):
                raise self._busy(holder)
        try:
            if self._depth == 0:
                self._lock_file(job, deadline, None if told else on_wait)
                self._job = job
            self._depth += 1
        except BaseException:
            self._thread_lock.release()
            raise

    def release(self) -> None:
        """Release one level of the lock (the file lock when the last level goes)."""
        self._depth -= 1
        try:
            if self._depth == 0:
                self._unlock_file()
                self._job = ""
        finally:
            self._thread_lock.release()

    def discard(self) -> None:
        """Delete the lock file while holding the lock (a deleted library leaves none behind).

        Safe: a process waiting on the old file notices it is gone and opens a new one.
        """
        if self._fd is None:
            raise RuntimeError("discard() needs the lock held")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    @property
    def held(self) -> bool:
        """Whether this process holds the lock through this object."""
        return self._fd is not None

    def holder(self) -> Holder | None:
        """Who holds the lock now (this process included), or None when it is free."""
        if self._fd is not None:
            return Holder(os.getpid(), self._job)
        try:
            fd = os.open(self.path, os.O_RDWR)
        except FileNotFoundError:
            return None
        except OSError:
            return self._read_holder()
        try:
            if _try_lock(fd):
                _unlock(fd)
                return None
            return self._read_holder()
        finally:
            os.close(fd)

    # -- internals ---------------------------------------------------------

    def _busy(self, holder: Holder) -> LibraryBusy:
        return LibraryBusy(f"{holder.describe()}; try again when it is done", pid=holder.pid)

    def _read_holder(self) -> Holder:
        for _ in range(20):  # the holder writes its pid right after locking
            try:
                text = self.path.read_text(encoding="utf-8", errors="replace").split(None, 1)
            except OSError:
                text = []
            if text and text[0].isdigit():
                return Holder(int(text[0]), text[1].strip() if len(text) > 1 else "writer")
            time.sleep(0.01)
        return Holder(None, "writer")

    def _open(self) -> int:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise os_error(exc, "cannot create the library's lock file") from exc
        with contextlib.suppress(OSError):
            st = os.fstat(fd)
            if hasattr(os, "getuid") and st.st_uid == os.getuid() and st.st_mode & 0o077:
                os.fchmod(fd, 0o600)
        return fd

    def _lock_file(self, job: str, deadline: float | None, on_wait: Callable[[Holder], None] | None) -> None:
        delay = _POLL[0]
        while True:
            fd = self._open()
            locked = False
            try:
                locked = _try_lock(fd)
                if locked and not _same_file(fd, self.path):
                    # the file was deleted (a privacy delete) or replaced after we opened it
                    _unlock(fd)
                    locked = False
                    os.close(fd)
                    continue
                if locked:
                    _write_holder(fd, job)
                    self._fd = fd
                    _held.add(self)
                    return
            finally:
                if not locked:
                    os.close(fd)
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                raise self._busy(self._read_holder())
            if on_wait is not None:
                on_wait(self._read_holder())
                on_wait = None
            time.sleep(delay if deadline is None else max(0.0, min(delay, deadline - now)))
            delay = min(delay * 2, _POLL[1])

    def _unlock_file(self) -> None:
        fd, self._fd = self._fd, None
        _held.discard(self)
        if fd is None:
            return
        try:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            _unlock(fd)
        finally:
            os.close(fd)

    def _forget_after_fork(self) -> None:
        # A forked child (a scan's reader worker) must not keep the parent's lock
        # alive: closing the child's copy of the descriptor leaves the parent's lock
        # in place and lets the OS release it as soon as the parent dies.
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._fd = None
        self._depth = 0
        self._job = ""
        self._thread_lock = threading.RLock()


class Turns:
    """Who waits for SQLite's write lock, so that a long writer (a scan) lets them in.

    SQLite has one write lock per database and no queue: a writer that commits
    and begins again at once keeps it, however many others poll for it. So a
    writer that has to wait says so by holding a *shared* lock on this file
    while it waits (:meth:`waiting`), and a long writer asks :meth:`anyone_waiting`
    (a non-blocking exclusive lock, taken and dropped: two system calls, no
    I/O) to commit early and step aside. POSIX only; on Windows nobody is ever
    seen waiting and long writers fall back to committing on a timer.

    :param path: the file (created 0600 when missing).
    """

    def __init__(self, path: Path | str):
        self.path = os.fspath(path)
        self._probe: int | None = None
        self._probe_pid = 0
        self._quiet_until = 0.0

    #: seconds an answer of "nobody waits" is reused (a long writer asks after every row)
    RECHECK_S = 0.002

    def anyone_waiting(self) -> bool:
        """Whether another writer (thread or process) is waiting for the write lock now."""
        if not _SHARED_LOCKS:
            return False
        now = time.monotonic()
        if now < self._quiet_until:
            return False
        if self._probe is None or self._probe_pid != os.getpid():
            try:  # no file yet: nobody ever waited (a waiter creates it)
                self._probe = os.open(self.path, os.O_RDWR)
            except OSError:
                self._quiet_until = now + self.RECHECK_S
                return False
            self._probe_pid = os.getpid()
        if _try_lock(self._probe):
            _unlock(self._probe)
            self._quiet_until = now + self.RECHECK_S
            return False
        return True

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        """Say "I am waiting for the write lock" for the block."""
        fd = None
        if _SHARED_LOCKS:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                _lock_shared(fd)
                _waiting_fds.add(fd)
            except OSError:  # it still waits, just unannounced
                if fd is not None:
                    os.close(fd)
                fd = None
        try:
            yield
        finally:
            if fd is not None:
                _waiting_fds.discard(fd)
                os.close(fd)

    def close(self) -> None:
        """Close the probe's descriptor."""
        fd, self._probe = self._probe, None
        if fd is not None and self._probe_pid == os.getpid():
            with contextlib.suppress(OSError):
                os.close(fd)


#: descriptors held by :meth:`Turns.waiting` in this process (closed in a forked child)
_waiting_fds: set[int] = set()


def _after_fork_in_child() -> None:
    for lock in list(_held):
        lock._forget_after_fork()
    _held.clear()
    for fd in list(_waiting_fds):
        with contextlib.suppress(OSError):
            os.close(fd)
    _waiting_fds.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _write_holder(fd: int, job: str) -> None:
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, f"{os.getpid()} {job}\n".encode())


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    _SHARED_LOCKS = False

    def _lock_shared(fd: int) -> None:
        raise OSError("no shared locks on Windows")

    # Windows locks are mandatory: lock one byte far past the text so that a
    # waiting process can still read who holds the lock.
    _LOCK_OFFSET = 1 << 20

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

    def _same_file(fd: int, path: Path) -> bool:
        return True  # an open file cannot be deleted or replaced on Windows

else:
    import fcntl

    _SHARED_LOCKS = True

    def _lock_shared(fd: int) -> None:
        # never blocks: a probe holds its exclusive lock for two system calls
        for _ in range(50):
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                time.sleep(0.0002)
        raise OSError("could not say it waits")

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

    def _same_file(fd: int, path: Path) -> bool:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return False
        mine = os.fstat(fd)
        return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)
