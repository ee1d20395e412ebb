"""The multipart upload journal: which uploads are open and which parts are done.

Kept in the library database (``sync_uploads``, ``sync_upload_parts``) through
a connection of its own, so upload threads can record parts as they finish. A
sync interrupted at any point resumes from it: the same upload id and salt, and
only the parts the server does not already hold are uploaded again.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from printmanager_core.settings import now_iso

if TYPE_CHECKING:  # pragma: no cover
    from .s3client import Part


@attrs.define
class UploadRecord:
    """An open multipart upload and the local file it comes from."""

    name: str
    upload_id: str
    salt: bytes
    source: str
    size: int
    mtime_ns: int
    part_size: int
    object_size: int
    parts: "dict[int, Part]" = attrs.field(factory=dict)

    def same_source(self, source: str, size: int, mtime_ns: int) -> bool:
        """True if the upload is of this file as it is now."""
        return (self.source, self.size, self.mtime_ns) == (source, size, mtime_ns)


def _source(path: str) -> str | bytes:
    """A source path as a column value: text, or its exact bytes if it is not valid UTF-8."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(path)
    return path


class Journal:
    """Thread-safe access to the upload journal of one library database."""

    def __init__(self, db_path: str | Path):
        self._conn = sqlite3.connect(str(db_path), check_same_thread=False, timeout=30, isolation_level=None)
        self._conn.execute("PRAGMA busy_timeout = 30000")
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the journal's connection."""
        with self._lock:
            self._conn.close()

    def find(self, name: str) -> UploadRecord | None:
        """The open upload of object ``name``, with its recorded parts."""
        with self._lock:
            row = self._conn.execute(
                "select name, upload_id, salt, source, size, mtime_ns, part_size, object_size "
                "from sync_uploads where name = ?",
                [name],
            ).fetchone()
            if row is None:
                return None
            from .s3client import Part  # only multipart (S3) uploads are journalled

            parts = {
                r[0]: Part(r[0], r[1], r[2])
                for r in self._conn.execute("select number, etag, size from sync_upload_parts where name = ?", [name])
            }
        source = os.fsdecode(row[3]) if isinstance(row[3], bytes) else row[3]
        return UploadRecord(row[0], row[1], bytes.fromhex(row[2]), source, row[4], row[5], row[6], row[7], parts)

    def start(self, record: UploadRecord) -> None:
        """Record a new upload (replacing any older record of the same object)."""
        with self._lock, self._conn:
            self._conn.execute("delete from sync_upload_parts where name = ?", [record.name])
            self._conn.execute("delete from sync_uploads where name = ?", [record.name])
            self._conn.execute(
                "insert into sync_uploads (name, upload_id, salt, source, size, mtime_ns, part_size, object_size, "
                "created_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [record.name, record.upload_id, record.salt.hex(), _source(record.source), record.size, record.mtime_ns,
                 record.part_size, record.object_size, now_iso()],
            )  # fmt: skip

    def part_done(self, name: str, part: "Part") -> None:
        """Record a part the server acknowledged."""
        with self._lock, self._conn:
            self._conn.execute(
                "insert or replace into sync_upload_parts (name, number, etag, size) values (?, ?, ?, ?)",
                [name, part.number, part.etag, part.size],
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
