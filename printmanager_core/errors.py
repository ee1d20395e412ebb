"""Exceptions the library raises for the user's mistakes, bad input and an unusable library.

Every one carries a one-line message meant for the user; the CLI prints it as
``Error: <message>``. Errors of the environment that reach printmanager as
``sqlite3`` or ``OSError`` exceptions are turned into these by
:func:`database_error` and :func:`os_error` (the store does it for every
statement), so no raw ``sqlite3`` error reaches a user.
"""

from __future__ import annotations

import os

from .paths import printable


class PrintManagerError(Exception):
    """Base class: the message is a one-line explanation for the user."""

    #: the CLI's exit status for this error
    exit_code: int = 1


class NotFound(PrintManagerError):
    """A file, model, tag, collection or setting that does not exist."""


class UsageError(PrintManagerError):
    """An argument the library cannot use (bad query, bad value)."""


class LibraryError(PrintManagerError):
    """The library folder or its database cannot be used as it is (see the subclasses)."""


class LibraryBusy(LibraryError):
    """Another writer holds the library: a scan (or delete) running elsewhere, or a
    write transaction that outlasted the busy timeout. Trying again later works.

    The CLI exits with status 75 (``EX_TEMPFAIL``) for it, so a cron job can tell
    "someone else is scanning" from a real failure.
    """

    exit_code = 75

    def __init__(self, message: str, *, pid: int | None = None):
        super().__init__(message)
        #: the process holding the library's write lock, when known
        self.pid = pid


class NotALibrary(LibraryError):
    """The library path is a file (or under one), not a folder."""


class LibraryNotWritable(LibraryError):
    """The library folder or database cannot be written (permissions, read-only disk)."""


class LibraryDamaged(LibraryError):
    """The library database is corrupt, or is not a printmanager database at all."""


class LibraryClosed(LibraryError):
    """The :class:`~printmanager_core.Library` was closed and cannot be used any more."""


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def database_error(exc: BaseException, path: str | os.PathLike[str] | None = None) -> PrintManagerError | None:
    """The :class:`PrintManagerError` for a ``sqlite3`` error the environment caused, or None.

    Locked/busy, read-only, corrupt, full, I/O and cannot-open errors are mapped
    (by SQLite's error name where Python gives it, else by message); anything else
    (a constraint or an SQL mistake: a bug) returns None and keeps its own type.

    :param path: the database file, named in the message.
    """
    name = getattr(exc, "sqlite_errorname", "") or ""
    msg = str(exc)
    low = msg.lower()
    where = f" {printable(path)}" if path is not None else ""

    def has(*parts: str) -> bool:
        return any(p in low for p in parts)

    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or has(
        "database is locked", "database table is locked", "database schema is locked"
    ):
        return LibraryBusy(
            f"the library database{where} is busy: another printmanager process kept it locked "
            "past the busy timeout; try again when it is done"
        )
    if name.startswith("SQLITE_READONLY") or has("readonly database", "read-only database"):
        return LibraryNotWritable(f"cannot write to the library database{where} (it is read-only)")
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or has(
        "file is not a database", "disk image is malformed", "database corrupt"
    ):
        return LibraryDamaged(
            f"the library database{where} is damaged or not a printmanager database ({_one_line(msg)}); "
            "move it away (a new one is made on the next scan) or restore a backup"
        )
    if name.startswith("SQLITE_FULL") or has("database or disk is full"):
        return LibraryError(f"no space left on the disk for the library database{where}")
    if name.startswith("SQLITE_IOERR") or has("disk i/o error"):
        return LibraryError(f"disk I/O error on the library database{where} ({_one_line(msg)})")
    if name.startswith(("SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")) or has("unable to open database file"):
        return LibraryNotWritable(f"cannot open the library database{where} ({_one_line(msg)})")
    if type(exc).__name__ == "ProgrammingError" and has("closed database"):
        return LibraryClosed("the library is closed")
    return None


def os_error(exc: OSError, what: str = "") -> PrintManagerError:
    """A one-line :class:`PrintManagerError` for an ``OSError`` (missing file, permission, disk full…).

    :param what: what was being done, e.g. ``"cannot create the library folder"``.
    """
    reason = (exc.strerror or _one_line(exc) or type(exc).__name__).rstrip(".")
    filename = exc.filename if exc.filename is not None else ""
    target = printable(os.fsdecode(filename) if isinstance(filename, bytes) else str(filename))
    head = f"{what}: " if what else ""
    text = f"{head}{target}: {reason.lower()}" if target else f"{head}{reason.lower()}"
    if isinstance(exc, FileNotFoundError):
        return NotFound(text)
    if isinstance(exc, PermissionError):
        return LibraryNotWritable(text) if what else PrintManagerError(text)
    return PrintManagerError(text)
