"""What the sync operations report (the JSON shapes of ``sync now/restore/check --json``)."""

from __future__ import annotations

from typing import Any

import attrs


@attrs.define
class SyncReport:
    """What ``sync now`` did."""

    snapshot: str | None = None
    pushed: bool = False
    merged: bool = False
    #: files and thumbnails uploaded, and the database backup (once, however many of its chunks)
    uploaded_blobs: int = 0
    #: every byte stored: those blobs, and the snapshot's pages and the backup's chunks
    uploaded_bytes: int = 0
    #: snapshot pages and database-backup chunks uploaded (those the container lacked)
    uploaded_metadata: int = 0
    downloaded_files: int = 0
    removed_files: int = 0
    #: files read to learn their object ids (new or changed since the last sync; the rest come from the cache)
    hashed_files: int = 0
    files: int = 0
    bytes: int = 0
    requests: int | None = None
    seconds: float = 0.0
    problems: list[str] = attrs.field(factory=list)

    def as_json(self) -> dict[str, Any]:
        """The documented JSON shape (``sync now --json``)."""
        d = attrs.asdict(self)
        d["seconds"] = round(self.seconds, 3)
        return d


@attrs.define
class RestoreReport:
    """What ``sync restore`` did."""

    snapshot: str
    roots: dict[str, str]
    files: int = 0
    bytes: int = 0
    thumbnails: int = 0
    catalogue: dict[str, int] = attrs.field(factory=dict)
    seconds: float = 0.0
    #: entries not restored, one line each (names the target folder takes for one)
    problems: list[str] = attrs.field(factory=list)

    def as_json(self) -> dict[str, Any]:
        """The documented JSON shape (``sync restore --json``)."""
        d = attrs.asdict(self)
        d["seconds"] = round(self.seconds, 3)
        return d


@attrs.define
class CheckReport:
    """What ``sync check`` found."""

    snapshots: int = 0
    blobs: int = 0
    referenced: int = 0
    checked: int = 0
    #: False when the repository could not be opened (the one problem says why)
    opened: bool = True
    problems: list[str] = attrs.field(factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        d = attrs.asdict(self)
        d["ok"] = self.ok
        return d
