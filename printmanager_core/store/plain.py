"""A library database over plain ``sqlite3``: its connections, and its file and folder.

Nothing here imports sqlite-utils (or numpy, which sqlite-utils imports): a
command that only reads the catalogue (``printmanager ls``) opens a
:class:`PlainDatabase` when the schema stamp says nothing is pending
(:mod:`.stamp`); :class:`~.connection.LibraryDatabase` is the same database
with sqlite-utils' API on top, and applies the migrations.

Connections (the thread model, docs/guide.md "Threads and processes"):

* :class:`PlainDatabase` (and so :class:`~.connection.LibraryDatabase`) has a
  ``conn`` that is the calling thread's own connection, opened lazily on the
  same file, so one database object (and the
  :class:`~printmanager_core.Library` holding it) can be used from any number
  of threads and from ``asyncio.to_thread``. :meth:`PlainDatabase.close`
  closes every thread's connection.
* The database is in WAL mode: readers never wait for the writer and see the
  last committed state. Every transaction begins ``IMMEDIATE`` (it takes
  SQLite's single write lock at its start, waiting up to the busy timeout), so
  writers of any thread or process take turns instead of failing half-way
  (a deferred transaction that reads, then writes, fails at once with "database
  is locked" when another writer got in between).
* Errors of the environment (busy past the timeout, read-only, corrupt, disk
  full, I/O) come out of every statement as
  :class:`~printmanager_core.errors.LibraryError` subclasses with a one-line
  message, never as raw ``sqlite3`` errors.
* The database file and its ``-wal``/``-shm`` files are private: created 0600
  (SQLite gives the side files the database's mode), and tightened to 0600 when
  found looser and owned by the user.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import sqlite3
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Callable, NoReturn

from ..errors import (
    LibraryClosed,
    LibraryDamaged,
    LibraryNotWritable,
    NotALibrary,
    UsageError,
    database_error,
    os_error,
    printable,
)
from ..locking import Turns

DB_NAME = "printmanager.db"

#: seconds a write waits for SQLite's write lock before giving up with LibraryBusy
BUSY_TIMEOUT_S = 10.0
#: environment variable overriding :data:`BUSY_TIMEOUT_S` (seconds)
ENV_BUSY_TIMEOUT = "PRINTMANAGER_BUSY_TIMEOUT"

#: the database's side files (SQLite gives them the database's permissions; "-turn"
#: is printmanager's: writers waiting for the write lock, see locking.Turns)
SIDE_SUFFIXES = ("-wal", "-shm", "-journal", "-turn")

#: longest a writer steps aside for writers already waiting (seconds)
YIELD_MAX_S = 0.2

_PRIVATE = 0o600


def _raise_mapped(exc: sqlite3.Error, path: str) -> NoReturn:
    mapped = database_error(exc, path)
    if mapped is None:
        raise exc
    raise mapped from exc


def _is_begin(sql: str) -> bool:
    """Whether ``sql`` starts a transaction (plain, deferred or immediate BEGIN)."""
    if len(sql) > 40 or sql[:5].upper() != "BEGIN":
        return False
    words = sql.rstrip("; \n\t").upper().split()
    return words[0] == "BEGIN" and all(w in ("DEFERRED", "IMMEDIATE", "TRANSACTION") for w in words[1:])


def _is_busy(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", "") or ""
    return name.startswith("SQLITE_BUSY") or "database is locked" in str(exc)


class _Cursor(sqlite3.Cursor):
    """A cursor whose environment errors are PrintManagerErrors (BEGIN waits its turn)."""

    connection: "_Connection"

    def execute(self, sql: str, parameters: Any = (), /) -> "_Cursor":  # type: ignore[override]
        if _is_begin(sql):
            self.connection.begin()
            return self
        try:
            return super().execute(sql, parameters)  # type: ignore[return-value]
        except sqlite3.Error as exc:
            _raise_mapped(exc, self.connection.path)

    def executemany(self, sql: str, seq: Any, /) -> "_Cursor":  # type: ignore[override]
        try:
            return super().executemany(sql, seq)  # type: ignore[return-value]
        except sqlite3.Error as exc:
            _raise_mapped(exc, self.connection.path)

    def executescript(self, script: str, /) -> "_Cursor":  # type: ignore[override]
        try:
            return super().executescript(script)  # type: ignore[return-value]
        except sqlite3.Error as exc:
            _raise_mapped(exc, self.connection.path)

    def fetchone(self) -> Any:
        try:
            return super().fetchone()
        except sqlite3.Error as exc:
            _raise_mapped(exc, self.connection.path)

    def fetchmany(self, size: int | None = None) -> list[Any]:
        try:
            return super().fetchmany(self.arraysize if size is None else size)
        except sqlite3.Error as exc:
            _raise_mapped(exc, self.connection.path)

    def fetchall(self) -> list[Any]:
        try:
            return super().fetchall()
        except sqlite3.Error as exc:
            _raise_mapped(exc, self.connection.path)


class _Connection(sqlite3.Connection):
    """One thread's connection.

    Opened in SQLite's autocommit mode (``isolation_level=None``): a transaction
    is always an explicit ``BEGIN IMMEDIATE`` — from ``with conn:``, sqlite-utils'
    ``atomic()`` or a ``BEGIN`` statement — which takes SQLite's one write lock
    at its start. Waiting for it is done here, trying every few milliseconds,
    rather than by SQLite's busy handler, whose sleeps grow to 100 ms and which
    so rarely hits the short moments between a long writer's transactions (a
    scan) that a tag could wait for the whole scan. Environment errors come out
    as PrintManagerErrors.
    """

    path: str
    #: seconds a BEGIN (and SQLite's own busy handler) waits for another writer
    busy_timeout: float
    #: writers waiting for the write lock, shared by every connection to the file
    turns: Turns

    def cursor(self, factory: Any = None) -> Any:  # type: ignore[override]
        return super().cursor(factory or _Cursor)

    def begin(self) -> None:
        """``BEGIN IMMEDIATE``, waiting up to :attr:`busy_timeout` for another writer.

        Writers already waiting go first (for up to :data:`YIELD_MAX_S`): this is
        how a scan that commits and begins again lets a tag in between. A writer
        that has to wait says so (:class:`~printmanager_core.locking.Turns`).
        """
        turns = self.turns
        if turns.anyone_waiting():
            end = time.monotonic() + YIELD_MAX_S
            while time.monotonic() < end and turns.anyone_waiting():
                time.sleep(0.001)
        execute = sqlite3.Connection.execute
        try:
            execute(self, "PRAGMA busy_timeout = 0")
            try:
                try:
                    execute(self, "BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    if not _is_busy(exc):
                        raise
                deadline = time.monotonic() + self.busy_timeout
                delay = 0.0005
                with turns.waiting():
                    while True:
                        time.sleep(delay)
                        delay = min(delay * 1.5, 0.005)
                        try:
                            execute(self, "BEGIN IMMEDIATE")
                            return
                        except sqlite3.OperationalError as exc:
                            if not _is_busy(exc) or time.monotonic() >= deadline:
                                raise
            finally:
                execute(self, f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        except sqlite3.Error as exc:
            _raise_mapped(exc, self.path)

    def execute(self, sql: str, parameters: Any = (), /) -> Any:  # type: ignore[override]
        if len(sql) <= 40 and _is_begin(sql):
            self.begin()
            return self.cursor()
        try:
            return super().execute(sql, parameters)
        except sqlite3.Error as exc:
            _raise_mapped(exc, self.path)

    def executemany(self, sql: str, seq: Any, /) -> Any:  # type: ignore[override]
        try:
            return super().executemany(sql, seq)
        except sqlite3.Error as exc:
            _raise_mapped(exc, self.path)

    def executescript(self, script: str, /) -> Any:  # type: ignore[override]
        try:
            return super().executescript(script)
        except sqlite3.Error as exc:
            _raise_mapped(exc, self.path)

    def commit(self) -> None:
        try:
            super().commit()
        except sqlite3.Error as exc:
            _raise_mapped(exc, self.path)

    def rollback(self) -> None:
        try:
            super().rollback()
        except sqlite3.Error as exc:
            _raise_mapped(exc, self.path)

    # ``with conn:`` is a transaction: the outermost block begins (immediate) and
    # commits, or rolls back on an exception; a nested block joins the outer one.
    def __enter__(self) -> "_Connection":
        began = not self.in_transaction
        if began:
            self.begin()
        self._blocks = [*getattr(self, "_blocks", []), began]
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        blocks = getattr(self, "_blocks", [])
        began = blocks.pop() if blocks else True
        self._blocks = blocks
        if not began or not self.in_transaction:
            return False
        if exc_type is None:
            try:
                self.commit()
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    sqlite3.Connection.rollback(self)
                raise
        else:
            with contextlib.suppress(sqlite3.Error):
                sqlite3.Connection.rollback(self)
        return False


class PlainDatabase:
    """A library database on one file with a connection per thread, over plain ``sqlite3``.

    ``db.conn`` is the calling thread's connection (opened on first use with the
    same settings); :meth:`execute` runs a statement on it. The store's gateways
    need no more than this; :class:`~.connection.LibraryDatabase` adds
    sqlite-utils' API (tables, migrations) for the plugins and the migrations.
    """

    #: sqlite-utils' statement tracer (set by ``LibraryDatabase``); None: no tracing
    _tracer: Callable[..., Any] | None = None

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = BUSY_TIMEOUT_S):
        self.path = os.fspath(path)
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        self._guard = threading.Lock()
        self._connections: "weakref.WeakSet[_Connection]" = weakref.WeakSet()
        self._closed = False
        self._functions: list[tuple[str, int, Callable[..., Any], dict[str, Any]]] = []
        #: writers waiting for SQLite's write lock (see :meth:`anyone_waiting`)
        self.turns = Turns(self.path + "-turn")

    # -- the per-thread connection -------------------------------------------

    @property
    def conn(self) -> _Connection:
        """The calling thread's connection (opened on first use)."""
        # hot: sqlite-utils reads it several times a statement
        if self._closed:
            raise LibraryClosed(f"the library database {self.path} is closed")
        try:
            return self._local.conn  # type: ignore[no-any-return]
        except AttributeError:
            c = self._local.conn = self._connect(prepare=True)
            return c

    @conn.setter
    def conn(self, value: _Connection) -> None:
        self._local.conn = value

    def execute(self, sql: str, parameters: Any = None) -> sqlite3.Cursor:
        """Execute ``sql`` on this thread's connection (as ``sqlite_utils.Database.execute``).

        The connection is in SQLite's autocommit mode, so a statement outside an
        explicit transaction commits by itself: none of the implicit-transaction
        care sqlite-utils takes applies, and this hot path stays short.
        """
        if self._tracer:
            self._tracer(sql, parameters)
        conn = self.conn
        return conn.execute(sql, parameters) if parameters is not None else conn.execute(sql)

    def _connect(self, *, prepare: bool) -> _Connection:
        try:
            c = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout,
                isolation_level=None,  # transactions are explicit: see _Connection
                check_same_thread=False,  # close() may close it from another thread
                factory=_Connection,
            )
        except sqlite3.Error as exc:
            _raise_mapped(exc, self.path)
        assert isinstance(c, _Connection)
        c.path = self.path
        c.busy_timeout = self.busy_timeout
        c.turns = self.turns
        try:
            c.execute("PRAGMA foreign_keys = ON")
            c.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            c.execute("PRAGMA synchronous = NORMAL")
            c.execute("PRAGMA recursive_triggers = ON")
        except BaseException:
            c.close()
            raise
        with self._guard:
            if self._closed:
                c.close()
                raise LibraryClosed(f"the library database {self.path} is closed")
            self._connections.add(c)
            self._apply_functions(c, self._functions)
        if prepare:  # a new thread's connection: prepared like the first
            self._prepare(c)
        return c

    def _prepare(self, c: _Connection) -> None:
        """Prepare a new thread's connection (``LibraryDatabase``: sqlite-utils' plugins do)."""

    @staticmethod
    def _apply_functions(c: _Connection, functions: list[tuple[str, int, Callable[..., Any], dict[str, Any]]]) -> None:
        for name, arity, fn, kwargs in functions:
            try:
                c.create_function(name, arity, fn, **kwargs)
            except sqlite3.NotSupportedError:  # no deterministic flag in this SQLite
                c.create_function(name, arity, fn)

    def register_function(
        self, fn: Callable[..., Any] | None = None, deterministic: bool = False, replace: bool = False,
        name: str | None = None,
    ) -> Any:
        """Register a Python function as an SQL function on every thread's connection."""

        def register(f: Callable[..., Any]) -> Callable[..., Any]:
            fn_name = name or f.__name__
            arity = len(inspect.signature(f).parameters)
            if not replace and any(n == fn_name and a == arity for n, a, _, _ in self._functions):
                return f
            kwargs = {"deterministic": True} if deterministic else {}
            entry = (fn_name, arity, f, kwargs)
            with self._guard:  # every open connection gets it now, new ones when opened
                self._functions.append(entry)
                for c in list(self._connections):
                    self._apply_functions(c, [entry])
            return f

        if fn is None:
            return register
        register(fn)
        return None

    # -- lifecycle -------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def anyone_waiting(self) -> bool:
        """Whether a writer (any thread or process) waits for the write lock: a long
        writer then commits and lets it in (its next BEGIN steps aside)."""
        return self.turns.anyone_waiting()

    @property
    def open_connections(self) -> int:
        """How many threads' connections are open (a finished thread's is closed with it)."""
        with self._guard:
            return len(self._connections)

    def close(self) -> None:
        """Close every thread's connection; the database cannot be used after."""
        with self._guard:
            if self._closed:
                return
            self._closed = True
            conns = list(self._connections)
            self._connections.clear()
        for c in conns:
            try:
                c.close()
            except sqlite3.Error:
                pass
        self.turns.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path}{' (closed)' if self._closed else ''}>"


def _owned_by_me(st: os.stat_result) -> bool:
    return not hasattr(os, "getuid") or st.st_uid == os.getuid()


def make_private(path: Path, mode: int = _PRIVATE) -> None:
    """Tighten ``path`` to ``mode`` when it is looser and owned by this user (POSIX only)."""
    if os.name == "nt":
        return
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    if _owned_by_me(st) and st.st_mode & 0o777 & ~mode:
        os.chmod(path, mode)


def _create_private(path: Path) -> None:
    """Create the database file 0600 (so its -wal/-shm are 0600 too), or tighten it."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, _PRIVATE)
    except FileExistsError:
        pass
    except OSError as exc:
        raise os_error(exc, "cannot create the library database") from exc
    else:
        os.close(fd)
        return
    try:
        for p in (path, *(Path(f"{path}{s}") for s in SIDE_SUFFIXES)):
            make_private(p)
    except OSError:
        pass  # not ours to change: it still opens


def prepare_library_dir(directory: Path) -> None:
    """Make sure ``directory`` can hold a library: create it 0700, or check and tighten it.

    An existing folder owned by the user is tightened to 0700 when it holds a
    library database already or is empty; a folder with other things in it keeps
    its mode (only the database files are made private).

    :raises LibraryError: one line saying why the folder cannot be used (it is a
        file, a parent is a file, permission denied, read-only disk…).
    """
    shown = printable(directory)
    try:
        existed = directory.is_dir()
        if not existed:
            try:
                directory.mkdir(parents=True, mode=0o700)
            except FileExistsError:
                # there already, or made since the check: by another process opening the
                # same new library (fine: it makes it 0700 too), or it is a file (not fine)
                if not directory.is_dir():
                    raise
                existed = True
    except FileExistsError as exc:  # a file is there (or appeared between the check and mkdir)
        raise NotALibrary(f"{shown} is a file, not a library folder") from exc
    except NotADirectoryError as exc:
        raise NotALibrary(f"cannot create the library folder {shown}: a parent of it is a file") from exc
    except OSError as exc:
        raise os_error(exc, "cannot create the library folder") from exc
    if os.name != "nt":
        try:
            if not existed:
                os.chmod(directory, 0o700)  # whatever the umask
            else:
                st = directory.stat()
                if _owned_by_me(st) and st.st_mode & 0o077:
                    names = os.listdir(directory)
                    if not names or DB_NAME in names:
                        os.chmod(directory, 0o700)
        except OSError:
            pass  # not ours to tighten; the checks below say whether it can be used
    if not os.access(directory, os.W_OK | os.X_OK):
        raise LibraryNotWritable(f"cannot write in the library folder {shown} (permission denied)")


def busy_timeout_default() -> float:
    """Seconds a write waits for another writer: ``$PRINTMANAGER_BUSY_TIMEOUT``, else 10."""
    text = os.environ.get(ENV_BUSY_TIMEOUT, "").strip()
    if not text:
        return BUSY_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1e6:
        raise UsageError(f"{ENV_BUSY_TIMEOUT} must be a number of seconds, not {text!r}")
    return value


def prepare_database_file(path: str | Path, busy_timeout: float | None) -> tuple[Path, float]:
    """The database file as a path, created if missing (mode 0600), and the busy timeout
    to open it with (``busy_timeout``, else :func:`busy_timeout_default`).

    :raises LibraryDamaged: the path is a folder.
    """
    path = Path(path)
    if path.is_dir():
        raise LibraryDamaged(f"{printable(path)} is a folder, not a printmanager database")
    _create_private(path)
    return path, busy_timeout_default() if busy_timeout is None else busy_timeout


def open_plain(path: str | Path, *, busy_timeout: float | None = None) -> PlainDatabase:
    """Open the existing database at ``path`` over plain ``sqlite3``, in WAL mode, without
    migrating it (see :func:`.stamp.open_current` for the check that nothing is pending).

    :param busy_timeout: seconds a write waits for another writer (default
        :func:`busy_timeout_default`).
    :raises LibraryError: a one-line reason when the file cannot be used.
    """
    path, busy_timeout = prepare_database_file(path, busy_timeout)
    db = PlainDatabase(path, busy_timeout=busy_timeout)
    try:
        set_wal(db)
    except BaseException:
        db.close()
        raise
    return db


def set_wal(db: PlainDatabase) -> None:
    """Put the database in WAL mode unless it is."""
    if db.conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        db.conn.execute("PRAGMA journal_mode = WAL")
