"""The multipart upload journal: which uploads are open and which parts are done.

Kept in the library database (``sync_uploads``, ``sync_upload_parts``) through
a connection of its own, so upload threads can record parts as they finish. A
sync interrupted at any point resumes from it: the same upload id and salt, and
only the parts the server does not already hold are uploaded again.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from printmanager_core.settings import now_iso

from .sync_store import JournalTables

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


class Journal:
    """Thread-safe access to the upload journal of one library database."""

    def __init__(self, db_path: str | Path):
        self._tables = JournalTables(db_path)

    def close(self) -> None:
        """Close the journal's connection."""
        self._tables.close()

    def find(self, name: str) -> UploadRecord | None:
        """The open upload of object ``name``, with its recorded parts."""
        found = self._tables.upload(name)
        if found is None:
            return None
        row, part_rows = found
        from .s3client import Part  # only multipart (S3) uploads are journalled

        parts = {number: Part(number, etag, size) for number, etag, size in part_rows}
        return UploadRecord(row[0], row[1], bytes.fromhex(row[2]), row[3], row[4], row[5], row[6], row[7], parts)

    def start(self, record: UploadRecord) -> None:
        """Record a new upload (replacing any older record of the same object)."""
        self._tables.start(
            record.name, record.upload_id, record.salt.hex(), record.source, record.size, record.mtime_ns,
            record.part_size, record.object_size, now_iso(),
        )  # fmt: skip

    def part_done(self, name: str, part: "Part") -> None:
        """Record a part the server acknowledged."""
        self._tables.part_done(name, part.number, part.etag, part.size)

    def finish(self, name: str) -> None:
        """Forget an upload (completed or aborted)."""
        self._tables.finish(name)

    def open_uploads(self) -> list[tuple[str, str]]:
        """``(object name, upload id)`` of every open upload."""
        return self._tables.open_uploads()
