"""A pool of reader processes watched from the parent: no file can hold a scan.

    pool = WatchedPool(2, ctx, read_one=read_entry, give_up=failed_entry,
                       deadline_s=limits.max_seconds_per_file + grace)
    with pool:
        for item, result in pool.run(batches, (limits,), idle=commit_if_old):
            write(item, result)

The per-file budget (:mod:`.budget`) raises inside the worker, which only works
while Python runs: a worker stuck inside one C call (a library that never
returns, a blocked system call) is out of its reach. So the parent keeps a
*board* in shared memory where each worker writes which item of which task it
is on and since when (the clock restarts whenever a budgeted block of work
begins, so each archive member gets its own time). The parent reads it between
results; a worker on one item for longer than ``deadline_s`` is killed with
``SIGKILL`` and replaced. That item's result is ``give_up(item, reason)``; the
other items of its tasks go back to the front of the queue and are read by the
next free worker. A worker that dies on its own (a crash in C code, the
kernel's out-of-memory killer) is handled the same way, its item blamed with
the signal that ended it.

Each worker has its own pipe, so killing one never leaves a lock held that the
others need (as a shared queue would). Workers are reaped when killed and when
the pool closes (those still busy then are killed: their results would be
dropped anyway); with the scanner's initializer they also die with the parent.
"""

from __future__ import annotations

import collections
import os
import signal
import time
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Deque, Generator, Generic, Iterable, Iterator, TypeVar

from . import budget

__all__ = ["WatchedPool", "WorkersKeepDying"]

Item = TypeVar("Item")
Result = TypeVar("Result")

#: tasks sent ahead to each worker (so it never waits for the parent between tasks)
TASKS_AHEAD = 2
#: the longest the parent sleeps without looking at the board (seconds)
LONGEST_NAP_S = 1.0
#: deaths of workers that were on no item, in a row, before the pool gives up
MAX_UNBLAMED_DEATHS = 3

# board layout: per worker slot, [task id, item index, started at (monotonic; 0: idle)]
_FIELDS = 3


class WorkersKeepDying(RuntimeError):
    """Reader processes die before they start on any file (the pool cannot go on)."""


class _Board:
    """Which item each worker is on, and since when (shared memory, written by workers)."""

    def __init__(self, ctx: Any, slots: int) -> None:
        self.cells = ctx.RawArray("d", slots * _FIELDS)

    def start(self, slot: int, task_id: int, index: int) -> None:
        base = slot * _FIELDS
        cells = self.cells
        cells[base + 2] = 0.0  # invalid while the other fields change
        cells[base] = task_id
        cells[base + 1] = index
        cells[base + 2] = time.monotonic()

    def restart_clock(self, slot: int) -> None:
        base = slot * _FIELDS
        if self.cells[base + 2]:
            self.cells[base + 2] = time.monotonic()

    def idle(self, slot: int) -> None:
        self.cells[slot * _FIELDS + 2] = 0.0

    def read(self, slot: int) -> tuple[int, int, float] | None:
        """(task id, item index, started at), or None when the worker is on no item."""
        base = slot * _FIELDS
        cells = self.cells
        started = cells[base + 2]
        if not started:
            return None
        task_id, index = int(cells[base]), int(cells[base + 1])
        if cells[base + 2] != started:
            return None  # it moved on while we looked: not stuck
        return task_id, index, started


def _serve(conn: Connection, slot: int, board: _Board, read_one: Callable[..., Any],
           initializer: Callable[..., None] | None, initargs: tuple[Any, ...]) -> None:
    """A worker's life: read tasks from the pipe until it closes, marking each item on the board."""
    if initializer is not None:
        initializer(*initargs)
    budget.on_work_start(lambda: board.restart_clock(slot))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        task_id, items, args = message
        out = []
        try:
            for index, item in enumerate(items):
                board.start(slot, task_id, index)
                out.append((item, read_one(item, *args)))
        except Exception as exc:  # a bug, not bad input: the parent re-raises it
            board.idle(slot)
            conn.send((task_id, exc))
            continue
        board.idle(slot)
        conn.send((task_id, out))


class _Worker:
    def __init__(self, process: Any, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        #: ids of the tasks sent and not answered, oldest first
        self.tasks: Deque[int] = collections.deque()


class WatchedPool(Generic[Item, Result]):
    """Worker processes that read items in tasks, each item under a deadline kept by the parent.

    :param workers: how many processes.
    :param ctx: a ``multiprocessing`` context (fork or spawn).
    :param read_one: ``read_one(item, *args) -> result``, run in a worker; a
        module-level function (it is pickled under spawn).
    :param give_up: ``give_up(item, reason) -> result``, run in the parent for an
        item whose worker was killed or died; ``reason`` is one line.
    :param deadline_s: the longest a worker may stay on one item (or one budgeted
        piece of it); None for no deadline (workers that die are still handled).
    :param deadline_reason: the ``reason`` given for an item past its deadline.
    :param initializer: run first in each worker, with ``initargs``.
    """

    def __init__(
        self,
        workers: int,
        ctx: Any,
        *,
        read_one: Callable[..., Result],
        give_up: Callable[[Item, str], Result],
        deadline_s: float | None,
        deadline_reason: str = "took too long",
        initializer: Callable[..., None] | None = None,
        initargs: tuple[Any, ...] = (),
    ) -> None:
        if workers < 1:
            raise ValueError("a pool needs at least one worker")
        self._ctx = ctx
        self._read_one = read_one
        self._give_up = give_up
        self._deadline_s = deadline_s
        self._deadline_reason = deadline_reason
        self._initializer = initializer
        self._initargs = initargs
        self._board = _Board(ctx, workers)
        self._workers: list[_Worker | None] = [None] * workers
        self._next_task_id = 1
        #: workers killed or dead so far (for reports and tests)
        self.replaced = 0
        #: tasks a worker with nothing left took over from another one's queue
        self.shared_out = 0

    # -- processes -------------------------------------------------------------

    def _start(self, slot: int) -> _Worker:
        parent_end, child_end = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(
            target=_serve, name=f"printmanager-reader-{slot}", daemon=True,
            args=(child_end, slot, self._board, self._read_one, self._initializer, self._initargs),
        )
        process.start()
        child_end.close()
        self._board.idle(slot)
        worker = _Worker(process, parent_end)
        self._workers[slot] = worker
        return worker

    def _stop(self, worker: _Worker, kill: bool) -> None:
        if kill and worker.process.is_alive():
            try:
                os.kill(worker.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        worker.conn.close()
        worker.process.join(None if kill else 5)
        if worker.process.is_alive():  # would not stop when asked
            worker.process.kill()
            worker.process.join()

    def __enter__(self) -> "WatchedPool[Item, Result]":
        for slot in range(len(self._workers)):
            self._start(slot)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every worker and reap it; busy ones are killed."""
        for slot, worker in enumerate(self._workers):
            if worker is None:
                continue
            self._workers[slot] = None
            busy = bool(worker.tasks) or self._board.read(slot) is not None
            if not busy:
                try:
                    worker.conn.send(None)
                except OSError:
                    busy = True
            self._stop(worker, kill=busy)

    # -- running ---------------------------------------------------------------

    def run(
        self,
        tasks: Iterable[list[Item]],
        args: tuple[Any, ...] = (),
        idle: Callable[[], None] | None = None,
    ) -> Iterator[tuple[Item, Result]]:
        """Read every item of ``tasks``; yields (item, result) as tasks finish, in no set order.

        Every item is yielded once. At the end of the work a worker with nothing
        left to do also takes a task another worker has queued but not started
        (whichever finishes it first gives its results; the other copy is dropped).

        :param args: passed to ``read_one`` after the item.
        :param idle: called before the parent waits for results (it had none ready).
        :raises WorkersKeepDying: workers die before starting on anything, again and again.
        """
        run = _Run(iter(tasks))
        unblamed_deaths = 0
        while True:
            self._fill(run, args)
            if run.finished():
                return
            busy = [w for w in self._workers if w is not None and w.tasks]
            handles: list[Any] = [w.conn for w in busy] + [w.process.sentinel for w in busy]
            ready = wait(handles, timeout=0)
            if not ready:
                if idle is not None:
                    idle()
                ready = wait(handles, timeout=self._nap())
            ready_set = set(ready)
            for slot, worker in enumerate(self._workers):
                if worker is None or not worker.tasks:
                    continue
                if worker.conn in ready_set:
                    try:
                        task_id, out = worker.conn.recv()
                    except (EOFError, OSError):
                        pass  # it died: its sentinel says so below
                    else:
                        worker.tasks.remove(task_id)
                        run.holders.get(task_id, set()).discard(slot)
                        if isinstance(out, BaseException):
                            raise out
                        unblamed_deaths = 0
                        if run.done(task_id):
                            yield from out
                        continue
                if worker.process.sentinel in ready_set or not worker.process.is_alive():
                    worker.process.join()
                    code = worker.process.exitcode or 0
                    reason = (f"its reader process died (signal {-code})" if code < 0
                              else f"its reader process exited (status {code})")
                    blamed = yield from self._replace(slot, worker, reason, run, kill=False)
                    unblamed_deaths = 0 if blamed else unblamed_deaths + 1
                    if unblamed_deaths >= MAX_UNBLAMED_DEATHS:
                        raise WorkersKeepDying(f"reader processes keep dying ({reason}) before reading any file")
                    continue
                if self._deadline_s is not None:
                    on = self._board.read(slot)
                    if on is not None and time.monotonic() - on[2] > self._deadline_s:
                        yield from self._replace(slot, worker, self._deadline_reason, run, kill=True)

    def _fill(self, run: "_Run[Item]", args: tuple[Any, ...]) -> None:
        """Keep every worker TASKS_AHEAD tasks deep; one that ended idle is started again."""
        for slot, worker in enumerate(self._workers):
            assert worker is not None
            if not worker.tasks and not worker.process.is_alive():
                self._stop(worker, kill=False)
                worker = self._start(slot)
            while len(worker.tasks) < TASKS_AHEAD:
                task_id = run.next_task(self)
                if task_id is None and not worker.tasks:
                    task_id = self._steal(slot, run)
                if task_id is None:
                    break
                self._send(slot, worker, task_id, run, args)

    def _steal(self, slot: int, run: "_Run[Item]") -> int | None:
        """A task another worker has queued behind the one it is on (and no one else holds)."""
        for other, worker in enumerate(self._workers):
            if other == slot or worker is None or len(worker.tasks) < 2:
                continue
            on = self._board.read(other)
            started = on[0] if on is not None else None
            for task_id in reversed(worker.tasks):
                if task_id != started and task_id in run.outstanding and len(run.holders[task_id]) == 1:
                    self.shared_out += 1
                    return task_id
        return None

    def _send(self, slot: int, worker: _Worker, task_id: int, run: "_Run[Item]", args: tuple[Any, ...]) -> None:
        worker.tasks.append(task_id)
        run.holders[task_id].add(slot)
        try:
            worker.conn.send((task_id, run.outstanding[task_id], args))
        except OSError:
            pass  # it died: its sentinel says so, and the task is queued again

    def _nap(self) -> float:
        """How long the parent may wait for results before the next deadline needs a look."""
        if self._deadline_s is None:
            return LONGEST_NAP_S
        now = time.monotonic()
        nap = LONGEST_NAP_S
        for slot in range(len(self._workers)):
            on = self._board.read(slot)
            if on is not None:
                nap = min(nap, on[2] + self._deadline_s - now)
        return max(nap, 0.01)

    def _replace(
        self, slot: int, worker: _Worker, reason: str, run: "_Run[Item]", *, kill: bool
    ) -> Generator[tuple[Item, Result], None, bool]:
        """Stop a worker, give up on the item it was on, queue the rest of its tasks again
        (those no other worker holds) and start a new worker in its slot. Returns whether
        an item was blamed."""
        on = self._board.read(slot)
        self._stop(worker, kill=kill)
        self.replaced += 1
        blamed = False
        again: list[int] = []
        for task_id in worker.tasks:
            run.holders.get(task_id, set()).discard(slot)
            items = run.outstanding.get(task_id)
            if items is None:
                continue  # another worker finished it, or gave up on it
            if on is not None and on[0] == task_id and 0 <= on[1] < len(items):
                index = on[1]
                blamed = True
                run.done(task_id)
                yield items[index], self._give_up(items[index], reason)
                rest = items[:index] + items[index + 1 :]
                if rest:
                    again.append(run.add(rest, self))
            elif not run.holders[task_id]:
                again.append(task_id)
        worker.tasks.clear()
        run.retry.extendleft(reversed(again))
        self._start(slot)
        return blamed

    def new_task_id(self) -> int:
        """A task id not used before in this pool."""
        task_id = self._next_task_id
        self._next_task_id += 1
        return task_id


class _Run(Generic[Item]):
    """The bookkeeping of one :meth:`WatchedPool.run`: which tasks are not done, who holds them."""

    def __init__(self, source: Iterator[list[Item]]) -> None:
        self.source: Iterator[list[Item]] | None = source
        #: task id -> items, for every task not done yet
        self.outstanding: dict[int, list[Item]] = {}
        #: task id -> slots of the workers it was sent to (and that have not answered)
        self.holders: dict[int, set[int]] = {}
        #: tasks to send again (their worker died), first out first
        self.retry: Deque[int] = collections.deque()

    def add(self, items: list[Item], pool: "WatchedPool[Item, Any]") -> int:
        task_id = pool.new_task_id()
        self.outstanding[task_id] = items
        self.holders[task_id] = set()
        return task_id

    def next_task(self, pool: "WatchedPool[Item, Any]") -> int | None:
        """The next task to send: one to retry, else a new one from the source (None: none left)."""
        if self.retry:
            return self.retry.popleft()
        if self.source is None:
            return None
        items = next(self.source, None)
        if items is None:
            self.source = None
            return None
        return self.add(items, pool)

    def done(self, task_id: int) -> bool:
        """Mark a task done; False when it already was (a second copy's results)."""
        self.holders.pop(task_id, None)
        return self.outstanding.pop(task_id, None) is not None

    def finished(self) -> bool:
        return self.source is None and not self.outstanding
