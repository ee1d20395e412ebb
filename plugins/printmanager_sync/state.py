"""Local sync state, kept in the library database (tables ``sync_*``: created by
``schema.py``, read and written by ``sync_store.py``).

* key/value JSON: the backend config (never secrets), user id, device id, root
  keys, the last snapshot synced, cached container config;
* the object id of each local file by (path, size, mtime), so an unchanged file
  is not read again;
* blobs known to be complete in the container.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Iterable

from .sync_store import TABLES, StateTables

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library
    from printmanager_core.records import FileRecord

__all__ = ["TABLES", "SyncState", "carry_file_id"]


class SyncState:
    """The sync tables of one library (used from the library's own thread)."""

    def __init__(self, library: "Library"):
        self.library = library
        self.tables = StateTables(library.store.db)

    # -- key/value ---------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        """A stored value, or ``default``."""
        return self.tables.get(key, default)

    def set(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON) under ``key``."""
        self.tables.put({key: value})

    def update(self, values: dict[str, Any]) -> None:
        """Store several values in one transaction."""
        self.tables.put(values)

    def delete(self, *keys: str) -> None:
        """Forget ``keys``."""
        self.tables.delete(keys)

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
        return self.tables.file_ids()

    def remember_ids(self, rows: Iterable[tuple[str, int, int, str]]) -> None:
        """Record (path, size, mtime_ns, object id) rows."""
        self.tables.put_file_ids(rows)

    def move_id(self, old: str, new: str) -> bool:
        """Carry a cached file id from ``old`` to ``new`` (the file moved); whether there was one."""
        return self.tables.move_file_id(old, new)

    def forget_id(self, path: str) -> None:
        """Drop a cached file id (after its content turned out to differ)."""
        self.tables.delete_file_id(path)

    # -- known blobs -------------------------------------------------------------

    def known_blobs(self) -> dict[str, int]:
        """Id -> stored size of blobs known to be in the container."""
        return self.tables.blobs()

    def add_blobs(self, blobs: Iterable[tuple[str, int]]) -> None:
        """Record (id, stored size) of blobs now in the container."""
        self.tables.put_blobs(blobs)

    def forget_blobs(self) -> None:
        """Forget every known blob (after the container was emptied or replaced)."""
        self.tables.delete_blobs()

    # -- everything --------------------------------------------------------------

    def clear(self) -> int:
        """Delete all local sync state; return how many rows went."""
        return self.tables.clear()


def carry_file_id(library: "Library", file: "FileRecord", old_path: str) -> bool:
    """The ``file_moved`` hook's work: the cached object id of the file on disk behind
    ``old_path`` (for an archive member, its archive) now belongs to ``file``'s new place,
    so the next sync neither reads nor uploads it again. Whether there was one to carry."""
    new = file.archive_path or file.path
    old = old_path
    if file.archive_path:  # the member's part of both paths is the same
        old = old_path[: len(old_path) - (len(file.path) - len(file.archive_path))]
    if old == new:
        return False
    return SyncState(library).move_id(old, new)
