"""The sync plugin's own tables (``sync_*``, migration m005): the only SQL in the plugin.

* ``sync_state``: key/value JSON (backend config, device id, root keys, the last
  snapshot synced, the cached container config) — :class:`StateTables`;
* ``sync_files``: the object id of each local file by (path, size, mtime), so an
  unchanged file is not read again — :class:`StateTables`;
* ``sync_blobs``: blobs known to be complete in the container — :class:`StateTables`;
* ``sync_uploads``, ``sync_upload_parts``: the multipart upload journal, read and
  written by upload threads through a connection of its own — :class:`JournalTables`.

What sync reads and writes of the core tables goes through the store's gateway
(``printmanager_core.store.catalogue_copy``), never through SQL here.

A path in ``sync_files`` and ``sync_uploads`` is text, or the exact bytes of a name
that is not valid UTF-8 (SQLite text must be UTF-8): :func:`to_column` / :func:`from_column`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterable

#: every table of the plugin, children first
TABLES = ("sync_upload_parts", "sync_uploads", "sync_files", "sync_blobs", "sync_state")
#: the tables that mean nothing on another machine (emptied in a database backup)
BOOKKEEPING = ("sync_upload_parts", "sync_uploads", "sync_files", "sync_blobs")


def from_column(value: Any) -> Any:
    """A path as a sync table stored it -> the ``str`` exactly as :mod:`os` gives it."""
    return os.fsdecode(value) if isinstance(value, bytes) else value


def to_column(path: Any) -> Any:
    """A path (an :mod:`os` ``str``) as a sync table's value: text, or its exact bytes when
    it has undecodable bytes (the inverse of :func:`from_column`)."""
    if isinstance(path, str):
        try:
            path.encode("utf-8")
        except UnicodeEncodeError:
            return os.fsencode(path)
    return path


def clear_bookkeeping(conn: sqlite3.Connection) -> None:
    """Empty this device's bookkeeping tables in a copy of the database (a backup)."""
    for table in BOOKKEEPING:
        try:
            conn.execute(f"delete from {table}")
        except sqlite3.OperationalError:  # an older database without the table
            pass


class StateTables:
    """``sync_state``, ``sync_files`` and ``sync_blobs`` of one library database.

    :param db: the library's database (``Library.db``).
    """

    def __init__(self, db: Any):
        self.db = db

    # -- key/value -------------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        """The JSON value stored under ``key``, decoded; ``default`` when there is none."""
        row = self.db.execute("select value from sync_state where key = ?", [key]).fetchone()
        return json.loads(row[0]) if row else default

    def put(self, values: dict[str, Any]) -> None:
        """Store each value (as JSON) under its key, in one transaction."""
        with self.db.conn:
            for key, value in values.items():
                self.db.execute(
                    "insert into sync_state (key, value) values (?, ?) "
                    "on conflict(key) do update set value = excluded.value",
                    [key, json.dumps(value, sort_keys=True)],
                )

    def delete(self, keys: Iterable[str]) -> None:
        """Forget ``keys``."""
        with self.db.conn:
            for key in keys:
                self.db.execute("delete from sync_state where key = ?", [key])

    # -- file ids ----------------------------------------------------------------

    def file_ids(self) -> dict[str, tuple[int, int, str]]:
        """path -> (size, mtime_ns, object id)."""
        return {
            from_column(r[0]): (r[1], r[2], r[3])
            for r in self.db.execute("select path, size, mtime_ns, blob from sync_files")
        }

    def put_file_ids(self, rows: Iterable[tuple[str, int, int, str]]) -> None:
        """Record (path, size, mtime_ns, object id) rows."""
        with self.db.conn:
            self.db.conn.executemany(
                "insert into sync_files (path, size, mtime_ns, blob) values (?, ?, ?, ?) "
                "on conflict(path) do update set size = excluded.size, mtime_ns = excluded.mtime_ns, "
                "blob = excluded.blob",
                [(to_column(path), size, mtime, blob) for path, size, mtime, blob in rows],
            )

    def delete_file_id(self, path: str) -> None:
        """Drop the cached id of ``path``."""
        with self.db.conn:
            self.db.execute("delete from sync_files where path = ?", [to_column(path)])

    # -- known blobs -------------------------------------------------------------

    def blobs(self) -> dict[str, int]:
        """Id -> stored size."""
        return {r[0]: r[1] for r in self.db.execute("select id, size from sync_blobs")}

    def put_blobs(self, blobs: Iterable[tuple[str, int]]) -> None:
        """Record (id, stored size) rows."""
        with self.db.conn:
            self.db.conn.executemany("insert or replace into sync_blobs (id, size) values (?, ?)", list(blobs))

    def delete_blobs(self) -> None:
        """Forget every known blob."""
        with self.db.conn:
            self.db.execute("delete from sync_blobs")

    # -- everything --------------------------------------------------------------

    def clear(self) -> int:
        """Empty every sync table; return how many rows went."""
        total = 0
        with self.db.conn:
            for table in TABLES:
                total += self.db.execute(f"delete from {table}").rowcount
        return total


class JournalTables:
    """``sync_uploads`` and ``sync_upload_parts`` through a connection of their own, safe to
    use from several threads (one statement at a time).

    :param db_path: the library's database file.
    """

    def __init__(self, db_path: str | Path):
        self._conn = sqlite3.connect(str(db_path), check_same_thread=False, timeout=30, isolation_level=None)
        self._conn.execute("PRAGMA busy_timeout = 30000")
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    def upload(self, name: str) -> tuple[tuple[Any, ...], list[tuple[int, str, int]]] | None:
        """The row of the open upload of ``name`` — (name, upload id, salt hex, source path,
        size, mtime_ns, part size, object size) — and its parts' (number, etag, size); or None."""
        with self._lock:
            row = self._conn.execute(
                "select name, upload_id, salt, source, size, mtime_ns, part_size, object_size "
                "from sync_uploads where name = ?",
                [name],
            ).fetchone()
            if row is None:
                return None
            parts = [
                (int(r[0]), str(r[1]), int(r[2]))
                for r in self._conn.execute("select number, etag, size from sync_upload_parts where name = ?", [name])
            ]
        return (*row[:3], from_column(row[3]), *row[4:]), parts

    def start(
        self, name: str, upload_id: str, salt_hex: str, source: str, size: int, mtime_ns: int, part_size: int,
        object_size: int, created_at: str,
    ) -> None:  # fmt: skip
        """Record a new upload, replacing any older record of the same object."""
        with self._lock, self._conn:
            self._conn.execute("delete from sync_upload_parts where name = ?", [name])
            self._conn.execute("delete from sync_uploads where name = ?", [name])
            self._conn.execute(
                "insert into sync_uploads (name, upload_id, salt, source, size, mtime_ns, part_size, object_size, "
                "created_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [name, upload_id, salt_hex, to_column(source), size, mtime_ns, part_size, object_size, created_at],
            )

    def part_done(self, name: str, number: int, etag: str, size: int) -> None:
        """Record a part the server acknowledged."""
        with self._lock, self._conn:
            self._conn.execute(
                "insert or replace into sync_upload_parts (name, number, etag, size) values (?, ?, ?, ?)",
                [name, number, etag, size],
            )

    def finish(self, name: str) -> None:
        """Forget an upload (completed or aborted)."""
        with self._lock, self._conn:
            self._conn.execute("delete from sync_upload_parts where name = ?", [name])
            self._conn.execute("delete from sync_uploads where name = ?", [name])

    def open_uploads(self) -> list[tuple[str, str]]:
        """``(object name, upload id)`` of every open upload."""
        with self._lock:
            return [(r[0], r[1]) for r in self._conn.execute("select name, upload_id from sync_uploads")]
