"""The sync plugin's own tables (``sync_*``, created by ``schema.py``): every read and write of them.

* ``sync_state``: key/value JSON (backend config, device id, root keys, the last
  snapshot synced, the cached container config) — :class:`StateTables`;
* ``sync_files``: the object id of each local file by (path, size, mtime), so an
  unchanged file is not read again — :class:`StateTables`;
* ``sync_blobs``: blobs known to be complete in the container — :class:`StateTables`;
* ``sync_uploads``, ``sync_upload_parts``: the multipart upload journal, read and
  written by upload threads through a connection of its own — :class:`JournalTables`.

They are reached with sqlite-utils' table API (``get``, ``upsert_all``,
``rows_where``, ``delete_where``): no SQL is written in the plugin. What sync reads
and writes of the core tables goes through the store's gateway
(``printmanager_core.store.catalogue_copy``).

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

from sqlite_utils import Database
from sqlite_utils.db import NotFoundError

#: every table of the plugin, children first
TABLES = ("sync_upload_parts", "sync_uploads", "sync_files", "sync_blobs", "sync_state")
#: the tables that mean nothing on another machine (emptied in a database backup)
BOOKKEEPING = ("sync_upload_parts", "sync_uploads", "sync_files", "sync_blobs")
#: ``sync_state`` keys a backup leaves out: rewritten by every sync, meaningless elsewhere
VOLATILE_STATE = ("last", "listed_at", "catalogue_fingerprint")


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
    db = Database(conn)
    for table in BOOKKEEPING:
        if db[table].exists():  # an older database may lack one
            db[table].delete_where()
    if db["sync_state"].exists():
        # what this device last pushed (large, rewritten by every sync): left out, it would change the
        # backup's chunks on every sync for nothing
        for key in VOLATILE_STATE:
            db["sync_state"].delete_where("key = ?", [key])


class StateTables:
    """``sync_state``, ``sync_files`` and ``sync_blobs`` of one library database.

    :param db: the library's database (``Library.store.db``, a sqlite-utils database).
    """

    def __init__(self, db: Any):
        self.db = db

    # -- key/value -------------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        """The JSON value stored under ``key``, decoded; ``default`` when there is none."""
        try:
            row = self.db["sync_state"].get(key)
        except NotFoundError:
            return default
        return json.loads(row["value"])

    def put(self, values: dict[str, Any]) -> None:
        """Store each value (as JSON) under its key, in one transaction."""
        rows = [{"key": key, "value": json.dumps(value, sort_keys=True)} for key, value in values.items()]
        with self.db.conn:
            self.db["sync_state"].upsert_all(rows, pk="key")

    def delete(self, keys: Iterable[str]) -> None:
        """Forget ``keys``."""
        with self.db.conn:
            for key in keys:
                self.db["sync_state"].delete_where("key = ?", [key])

    # -- file ids ----------------------------------------------------------------

    def file_ids(self) -> dict[str, tuple[int, int, str]]:
        """path -> (size, mtime_ns, object id)."""
        return {
            from_column(r["path"]): (r["size"], r["mtime_ns"], r["blob"])
            for r in self.db["sync_files"].rows_where(select="path, size, mtime_ns, blob")
        }

    def put_file_ids(self, rows: Iterable[tuple[str, int, int, str]]) -> None:
        """Record (path, size, mtime_ns, object id) rows."""
        records = [{"path": to_column(path), "size": size, "mtime_ns": mtime, "blob": blob}
                   for path, size, mtime, blob in rows]  # fmt: skip
        with self.db.conn:
            self.db["sync_files"].upsert_all(records, pk="path")

    def move_file_id(self, old: str, new: str) -> bool:
        """Give the cached id of ``old`` to ``new`` (the file was moved; its size and mtime
        came with it), replacing any older row of ``new``; an unfinished upload from ``old``
        continues from ``new``. Whether ``old`` had a cached id."""
        files, uploads = self.db["sync_files"], self.db["sync_uploads"]
        if not files.exists():  # the plugin's tables are made when a library opens with it loaded
            return False
        try:
            row = files.get(to_column(old))
        except NotFoundError:
            row = None
        with self.db.conn:
            for upload in uploads.rows_where("source = ?", [to_column(old)], select="name"):
                uploads.update(upload["name"], {"source": to_column(new)})
            if row is not None:
                files.delete_where("path = ?", [to_column(old)])
                files.upsert({**row, "path": to_column(new)}, pk="path")
        return row is not None

    def delete_file_id(self, path: str) -> None:
        """Drop the cached id of ``path``."""
        with self.db.conn:
            self.db["sync_files"].delete_where("path = ?", [to_column(path)])

    # -- known blobs -------------------------------------------------------------

    def blobs(self) -> dict[str, int]:
        """Id -> stored size."""
        return {r["id"]: r["size"] for r in self.db["sync_blobs"].rows_where(select="id, size")}

    def put_blobs(self, blobs: Iterable[tuple[str, int]]) -> None:
        """Record (id, stored size) rows."""
        with self.db.conn:
            self.db["sync_blobs"].upsert_all([{"id": b, "size": n} for b, n in blobs], pk="id")

    def delete_blobs(self) -> None:
        """Forget every known blob."""
        with self.db.conn:
            self.db["sync_blobs"].delete_where()

    # -- everything --------------------------------------------------------------

    def clear(self) -> int:
        """Empty every sync table; return how many rows went."""
        total = 0
        with self.db.conn:
            for table in TABLES:
                total += self.db[table].count
                self.db[table].delete_where()
        return total


class JournalTables:
    """``sync_uploads`` and ``sync_upload_parts`` through a connection of their own, safe to
    use from several threads (one call at a time).

    :param db_path: the library's database file.
    """

    def __init__(self, db_path: str | Path):
        # timeout=30: SQLite's busy handler waits up to 30 s for another writer
        self._conn = sqlite3.connect(str(db_path), check_same_thread=False, timeout=30, isolation_level=None)
        self._db = Database(self._conn)
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    def upload(self, name: str) -> tuple[tuple[Any, ...], list[tuple[int, str, int]]] | None:
        """The row of the open upload of ``name`` — (name, upload id, salt hex, source path,
        size, mtime_ns, part size, object size) — and its parts' (number, etag, size); or None."""
        with self._lock:
            try:
                r = self._db["sync_uploads"].get(name)
            except NotFoundError:
                return None
            parts = [
                (int(p["number"]), str(p["etag"]), int(p["size"]))
                for p in self._db["sync_upload_parts"].rows_where("name = ?", [name], select="number, etag, size")
            ]
        row = (r["name"], r["upload_id"], r["salt"], from_column(r["source"]), r["size"], r["mtime_ns"],
               r["part_size"], r["object_size"])  # fmt: skip
        return row, parts

    def start(
        self, name: str, upload_id: str, salt_hex: str, source: str, size: int, mtime_ns: int, part_size: int,
        object_size: int, created_at: str,
    ) -> None:  # fmt: skip
        """Record a new upload, replacing any older record of the same object."""
        with self._lock, self._conn:
            self._db["sync_upload_parts"].delete_where("name = ?", [name])
            self._db["sync_uploads"].delete_where("name = ?", [name])
            self._db["sync_uploads"].insert(
                {"name": name, "upload_id": upload_id, "salt": salt_hex, "source": to_column(source), "size": size,
                 "mtime_ns": mtime_ns, "part_size": part_size, "object_size": object_size, "created_at": created_at}
            )  # fmt: skip

    def part_done(self, name: str, number: int, etag: str, size: int) -> None:
        """Record a part the server acknowledged."""
        with self._lock, self._conn:
            self._db["sync_upload_parts"].insert(
                {"name": name, "number": number, "etag": etag, "size": size}, replace=True
            )

    def finish(self, name: str) -> None:
        """Forget an upload (completed or aborted)."""
        with self._lock, self._conn:
            self._db["sync_upload_parts"].delete_where("name = ?", [name])
            self._db["sync_uploads"].delete_where("name = ?", [name])

    def open_uploads(self) -> list[tuple[str, str]]:
        """``(object name, upload id)`` of every open upload."""
        with self._lock:
            return [(r["name"], r["upload_id"]) for r in self._db["sync_uploads"].rows_where(select="name, upload_id")]
