"""Deleting so that nothing is left behind: SQLite's ``secure_delete``.

A plain ``DELETE`` only marks the space free; the old bytes stay in the
database file (and in the write-ahead log) until SQLite happens to reuse the
page. Records the privacy policy says are deleted (retention, a withdrawn
analytics switch, ``privacy delete``, share records) are deleted inside
:func:`secure_delete`: SQLite overwrites the freed content with zeros, and the
write-ahead log is checkpointed and truncated afterwards so no older copy of
the pages stays in it.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:  # pragma: no cover
    from sqlite_utils import Database

log = logging.getLogger(__name__)


@contextlib.contextmanager
def secure_delete(db: Database) -> Iterator[None]:
    """A transaction whose deletes overwrite what they delete (``PRAGMA secure_delete``).

    Joins the caller's transaction when there is one (the log is then truncated
    by the outermost ``secure_delete`` block, after the commit).
    """
    conn = db.conn
    before = int(conn.execute("pragma secure_delete").fetchone()[0])
    outermost = not conn.in_transaction
    conn.execute("pragma secure_delete = on")
    try:
        with conn:
            yield
    finally:
        conn.execute(f"pragma secure_delete = {before}")
    if outermost:
        truncate_log(db)


def truncate_log(db: Database) -> bool:
    """Copy the write-ahead log into the database and empty it; False when a reader kept it busy.

    Never waits: a reader or writer in another connection (a scan) can hold the
    log; its pages are then overwritten by the next checkpoint (SQLite's own,
    or this one next time).
    """
    conn = db.conn
    timeout = int(conn.execute("pragma busy_timeout").fetchone()[0])
    conn.execute("pragma busy_timeout = 0")  # never wait for a reader or writer (a scan): try once
    try:
        row = conn.execute("pragma wal_checkpoint(truncate)").fetchone()
    finally:
        conn.execute(f"pragma busy_timeout = {timeout}")
    busy = bool(row and row[0])
    if busy:
        log.debug("write-ahead log still in use; it is truncated at the next checkpoint")
    return not busy


def count_rows(db: Database, table: str) -> int:
    """How many rows ``table`` holds (a table of the store's own schema)."""
    if db.execute("select 1 from sqlite_master where type = 'table' and name = ?", [table]).fetchone() is None:
        return 0
    return int(db.execute(f"select count(*) from [{table}]").fetchone()[0])
