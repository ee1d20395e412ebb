"""Typed snapshots: :class:`Snapshot`, its :class:`Entry` rows and :class:`RootRecord` roots,
and the :class:`Head` pointer.

The container stores them as canonical JSON (``format.py``; the layout is in
``docs/sync.md``); these records are what the engine, the merge and the restore
work with. ``from_json`` and ``to_json`` convert losslessly for everything the
format defines (a path keeps its exact ``str``, undecodable bytes included).
Fields a snapshot of an older writer lacks get their empty defaults.
``from_json`` checks the structure (an entry without a blob or a size is a
damaged snapshot: :class:`IntegrityError`); the paths themselves are checked
where they are used (``catalogue.safe_join``), so a hostile name is refused
with a message naming it.
"""

from __future__ import annotations

from typing import Any, Mapping

import attrs

from .errors import IntegrityError
from .format import SNAPSHOT_VERSION


def _damaged(what: str) -> IntegrityError:
    return IntegrityError(f"snapshot is damaged ({what})")


@attrs.frozen
class BlobRef:
    """A database backup: the HMAC id of its whole plaintext and its size, and — when it is
    stored in chunks (``pages.py``) — the chunks' ids, each ``chunk_size`` bytes but the last.
    Without chunks the backup is the one blob ``blob``."""

    blob: str
    size: int
    chunks: tuple[str, ...] = ()
    chunk_size: int = 0

    def objects(self) -> dict[str, int]:
        """The blobs that hold it: id -> plaintext size."""
        if not self.chunks:
            return {self.blob: self.size}
        from .pages import chunk_sizes

        return dict(zip(self.chunks, chunk_sizes(self.size, self.chunk_size, len(self.chunks))))

    def to_json(self) -> dict[str, Any]:
        """``{"blob", "size"}``, with ``chunks`` and ``chunk_size`` when chunked."""
        out: dict[str, Any] = {"blob": self.blob, "size": self.size}
        if self.chunks:
            out["chunks"], out["chunk_size"] = list(self.chunks), self.chunk_size
        return out

    @classmethod
    def from_json(cls, data: Any) -> "BlobRef | None":
        """From JSON (None stays None)."""
        if data is None:
            return None
        try:
            ref = cls(str(data["blob"]), int(data["size"]), tuple(str(c) for c in data.get("chunks") or ()),
                      int(data.get("chunk_size") or 0))  # fmt: skip
        except (KeyError, TypeError, ValueError, AttributeError):
            raise _damaged("a database entry without a blob or size") from None
        if ref.chunks:
            ref.objects()  # the chunks must add up to the size
        return ref


@attrs.frozen
class Entry:
    """A file of a root (``root`` set) or a thumbnail (``root`` None) in a snapshot.

    :ivar rel: the path relative to the root (or the thumbnails folder), ``/``-separated.
    :ivar size: plaintext bytes; :ivar mtime_ns: modification time; :ivar blob: the object id.
    """

    rel: Any  # a str; anything else is refused as an unsafe path where it is used
    size: int
    mtime_ns: int | None
    blob: str
    root: str | None = None

    @property
    def key(self) -> str:
        """``<root>/<rel>``: the entry's place in the container (a thumbnail: its ``rel``)."""
        return self.rel if self.root is None else f"{self.root}/{self.rel}"

    def to_json(self) -> dict[str, Any]:
        """The entry as the format writes it."""
        out: dict[str, Any] = {"rel": self.rel, "size": self.size, "mtime_ns": self.mtime_ns, "blob": self.blob}
        if self.root is not None:
            out["root"] = self.root
        return out

    @classmethod
    def from_json(cls, data: Any, *, thumbnail: bool = False) -> "Entry":
        """From JSON; :class:`IntegrityError` if it lacks a blob, size or (for a file) root."""
        try:
            root = None if thumbnail else str(data["root"])
            return cls(data["rel"], int(data["size"]), data.get("mtime_ns"), str(data["blob"]), root)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise _damaged("an entry without a root, blob or size") from None


@attrs.frozen
class RootRecord:
    """A root in a snapshot: its random key, name, the pushing device's path for it, and the
    database backup (and library directory) of the last device that pushed while having it."""

    key: str
    name: str
    path: str
    database: BlobRef | None = None
    library_dir: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The root as the format writes it."""
        out: dict[str, Any] = {"key": self.key, "name": self.name, "path": self.path}
        if self.database is not None:
            out["database"] = self.database.to_json()
        if self.library_dir is not None:
            out["library_dir"] = self.library_dir
        return out

    @classmethod
    def from_json(cls, data: Any) -> "RootRecord":
        """From JSON; :class:`IntegrityError` if it lacks its key or path."""
        try:
            return cls(str(data["key"]), str(data.get("name") or ""), data["path"],
                       BlobRef.from_json(data.get("database")), data.get("library_dir"))  # fmt: skip
        except (KeyError, TypeError, AttributeError):
            raise _damaged("a root without a key or path") from None


@attrs.frozen
class Snapshot:
    """One device's view of everything synced, at one moment (docs/sync.md, "Snapshots")."""

    files: tuple[Entry, ...] = ()
    thumbnails: tuple[Entry, ...] = ()
    roots: tuple[RootRecord, ...] = ()
    meta: Mapping[str, Any] = attrs.field(factory=dict)
    database: BlobRef | None = None
    version: int = SNAPSHOT_VERSION
    time: str | None = None
    device: str | None = None
    parents: tuple[str, ...] = ()
    library_dir: str | None = None
    fingerprint: str | None = None
    #: the blobs holding the snapshot's pages (version 2): id -> plaintext size
    pages: Mapping[str, int] = attrs.field(factory=dict)

    def entries(self) -> dict[str, Entry]:
        """The files by key (``<root>/<rel>``)."""
        return {e.key: e for e in self.files}

    def thumbnails_by_rel(self) -> dict[str, Entry]:
        """The thumbnails by ``rel``."""
        return {t.rel: t for t in self.thumbnails}

    def blobs(self) -> dict[str, int]:
        """Every blob it references (files, thumbnails, database backups or their chunks, its own
        pages): id -> plaintext size."""
        databases = [self.database] if self.database else []
        databases += [r.database for r in self.roots if r.database]
        out: dict[str, int] = {}
        for ref in [*self.files, *self.thumbnails]:
            out[ref.blob] = ref.size
        for db in databases:
            out.update(db.objects())
        out.update(self.pages)
        return out

    def to_json(self) -> dict[str, Any]:
        """The snapshot as the format writes it."""
        return {
            "version": self.version,
            "time": self.time,
            "device": self.device,
            "parents": list(self.parents),
            "library_dir": self.library_dir,
            "roots": [r.to_json() for r in self.roots],
            "files": [e.to_json() for e in self.files],
            "thumbnails": [t.to_json() for t in self.thumbnails],
            "database": self.database.to_json() if self.database else None,
            "meta": dict(self.meta),
            "fingerprint": self.fingerprint,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Snapshot":
        """From the decoded JSON object; :class:`IntegrityError` if its structure is damaged."""
        try:
            files = tuple(Entry.from_json(e) for e in data.get("files") or [])
            thumbs = tuple(Entry.from_json(t, thumbnail=True) for t in data.get("thumbnails") or [])
            roots = tuple(RootRecord.from_json(r) for r in data.get("roots") or [])
            meta = data.get("meta") or {}
            if not isinstance(meta, dict):
                raise _damaged("meta is not an object")
            return cls(
                files, thumbs, roots, meta, BlobRef.from_json(data.get("database")),
                data.get("version", SNAPSHOT_VERSION), data.get("time"), data.get("device"),
                tuple(data.get("parents") or ()), data.get("library_dir"), data.get("fingerprint"),
                {str(k): int(v) for k, v in (data.get("structure") or {}).items()},
            )  # fmt: skip
        except (TypeError, ValueError, AttributeError):
            raise _damaged("not the structure of a snapshot") from None


@attrs.frozen
class Head:
    """The head pointer: the newest snapshot, its sequence number, who moved it and when."""

    snapshot: str
    seq: int
    device: str | None = None
    time: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Head":
        """From the decoded head (``format.decode_head`` checked its snapshot id and seq)."""
        return cls(str(data["snapshot"]), int(data["seq"]), data.get("device"), data.get("time"))
