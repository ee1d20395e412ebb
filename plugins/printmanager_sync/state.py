"""Local sync state, kept in the library database (tables ``sync_*``, migration m005).

* ``sync_state``: key/value JSON: the backend config (never secrets), user id,
  device id, root keys, the last snapshot synced, cached container config.
* ``sync_files``: the object id of each local file by (path, size, mtime), so an
  unchanged file is not read again.
* ``sync_blobs``: blobs known to be complete in the container.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, Iterable

from .catalogue import from_db, to_db

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library

TABLES = ("sync_upload_parts", "sync_uploads", "sync_files", "sync_blobs", "sync_state")


class SyncState:
    """The sync tables of one library (used from the library's own thread)."""

    def __init__(self, library: "Library"):
        self.library = library
        self.db = library.db

    # -- key/value ---------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        """A stored value, or ``default``."""
        row = self.db.execute("select value from sync_state where key = ?", [key]).fetchone()
        return json.loads(row[0]) if row else default

    def set(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON) under ``key``."""
        with self.db.conn:
            self.db.execute(
                "insert into sync_state (key, value) values (?, ?) "
                "on conflict(key) do update set value = excluded.value",
                [key, json.dumps(value, sort_keys=True)],
            )

    def update(self, values: dict[str, Any]) -> None:
        """Store several values in one transaction."""
        with self.db.conn:
            for key, value in values.items():
                self.db.execute(
                    "insert into sync_state (key, value) values (?, ?) "
                    "on conflict(key) do update set value = excluded.value",
                    [key, json.dumps(value, sort_keys=True)],
                )

    def delete(self, *keys: str) -> None:
        """Forget ``keys``."""
        with self.db.conn:
            for key in keys:
                self.db.execute("delete from sync_state where key = ?", [key])

    @property
    def config(self) -> dict[str, Any] | None:
        """The backend configuration (no secrets), or None when sync was never set up."""
        return self.get("config")

    def device_id(self) -> str:
        """This library's random device id (created on first use)."""
        device = self.get("device")
        if not device:
            device = os.urandom(8).hex()
            self.set("device", device)
        return str(device)

    # -- roots -----------------------------------------------------------------

    def root_keys(self) -> dict[str, str]:
        """Local root path -> the root's key in the container."""
        return dict(self.get("roots", {}))

    def ensure_root_keys(self, paths: Iterable[str]) -> dict[str, str]:
        """Give each root path a random key if it has none; return the full map."""
        keys = self.root_keys()
        changed = False
        for path in paths:
            if path not in keys:
                keys[path] = "r" + os.urandom(6).hex()
                changed = True
        if changed:
            self.set("roots", keys)
        return keys

    # -- file ids ----------------------------------------------------------------

    def cached_ids(self) -> dict[str, tuple[int, int, str]]:
        """path -> (size, mtime_ns, object id) for files hashed before."""
        return {
            from_db(r[0]): (r[1], r[2], r[3]) for r in self.db.execute("select path, size, mtime_ns, blob from sync_files")
        }

    def remember_ids(self, rows: Iterable[tuple[str, int, int, str]]) -> None:
        """Record (path, size, mtime_ns, object id) rows."""
        with self.db.conn:
            self.db.conn.executemany(
                "insert into sync_files (path, size, mtime_ns, blob) values (?, ?, ?, ?) "
                "on conflict(path) do update set size = excluded.size, mtime_ns = excluded.mtime_ns, "
                "blob = excluded.blob",
                [(to_db(path), size, mtime, blob) for path, size, mtime, blob in rows],
            )

    def forget_id(self, path: str) -> None:
        """Drop a cached file id (after its content turned out to differ)."""
        with self.db.conn:
            self.db.execute("delete from sync_files where path = ?", [to_db(path)])

    # -- known blobs -------------------------------------------------------------

    def known_blobs(self) -> dict[str, int]:
        """Id -> stored size of blobs known to be in the container."""
        return {r[0]: r[1] for r in self.db.execute("select id, size from sync_blobs")}

    def add_blobs(self, blobs: Iterable[tuple[str, int]]) -> None:
        """Record (id, stored size) of blobs now in the container."""
        with self.db.conn:
            self.db.conn.executemany("insert or replace into sync_blobs (id, size) values (?, ?)", list(blobs))

    def forget_blobs(self) -> None:
        """Forget every known blob (after the container was emptied or replaced)."""
        with self.db.conn:
            self.db.execute("delete from sync_blobs")

    # -- everything --------------------------------------------------------------

    def clear(self) -> int:
        """Delete all local sync state; return how many rows went."""
        total = 0
        with self.db.conn:
            for table in TABLES:
                total += self.db.execute(f"delete from {table}").rowcount
        return total
