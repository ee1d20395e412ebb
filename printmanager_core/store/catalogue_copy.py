"""Copying the catalogue: the rows a snapshot is made of, and the rows a restore writes.

The sync plugin puts a library's catalogue in its container and brings it back
on another device, under other folders. This gateway is everything it needs
from the core tables (``roots``, ``models``, ``files``, tags, collections):

* reading, for a snapshot: where each root, model and file lives (exact paths),
  the facts of each row without the columns that name a place, what the user
  edited (tags, notes, model fields, collections), and a consistent backup of
  the whole database;
* writing: the rows of another device's backup moved to new folders
  (:meth:`CatalogueCopy.copy_from`), a collection's description, and files a
  pull moved away marked missing.

Paths are exact (``printmanager_core.paths``): a path given or returned here is
the ``str`` as :mod:`os` gives it, so ``os.fsencode(path)`` is the name on disk
even when it is not valid UTF-8; the two store columns (display text and
``path_bytes``) are this module's business.
"""

from __future__ import annotations

import datetime as _dt
import os
import sqlite3
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import attrs

from ..paths import archive_of, display_path, path_from_store, stored_path
from .connection import LibraryDatabase, open_database
from .models import refresh_models_missing

#: the catalogue tables a copy carries, in dependency order
CATALOGUE_TABLES = ("roots", "models", "files", "tags", "file_tags", "model_tags", "collections", "collection_models")
#: columns of ``files`` that name a place or a local moment, not a fact about the file
FILE_PLACE_COLUMNS = frozenset(
    {"root_id", "path", "path_bytes", "archive_path", "thumbnail_path", "scanned_at", "mtime_ns"}
)
#: columns of ``models`` that name a place
MODEL_PLACE_COLUMNS = frozenset({"root_id", "path", "path_bytes"})


@attrs.frozen
class Place:
    """Where a catalogue row lives.

    :ivar id: the row's id.
    :ivar root_id: its root (None for a row outside every root).
    :ivar path: the exact path (for an archive member ``<archive>!/<member>``).
    :ivar archive: the exact path of the archive holding it, or None.
    :ivar missing: whether the catalogue marks it missing.
    """

    id: int
    root_id: int | None
    path: str
    archive: str | None = None
    missing: bool = False

    @property
    def disk_path(self) -> str:
        """The file on disk behind the row: the archive for a member, else the path."""
        return self.archive or self.path


@attrs.frozen
class FileEdits:
    """What the user edited on a present file."""

    id: int
    tags: tuple[str, ...]
    notes: str


@attrs.frozen
class ModelEdits:
    """What the user edited on a present model: its tags and the text fields asked for."""

    id: int
    tags: tuple[str, ...]
    fields: Mapping[str, Any]


@attrs.frozen
class CollectionRow:
    """A collection and the ids of its models."""

    id: int
    name: str
    description: str
    model_ids: tuple[int, ...]


@attrs.frozen
class CopiedRows:
    """How many rows :meth:`CatalogueCopy.copy_from` added per table."""

    roots: int = 0
    models: int = 0
    files: int = 0
    collections: int = 0

    def as_dict(self) -> dict[str, int]:
        """``{"roots": n, "models": n, "files": n, "collections": n}``."""
        return attrs.asdict(self)


@attrs.frozen
class Relocation:
    """How :meth:`CatalogueCopy.copy_from` moves another device's rows to this one.

    :ivar roots: the source device's root path -> the folder it now lives in (exact paths);
        rows of other roots are not copied.
    :ivar move: ``move(path, source root, new root)`` -> the row's new exact path, or None to
        leave the row out. May raise to refuse the copy (a hostile path).
    :ivar thumbnail: the source's ``thumbnail_path`` -> the one to store here (or None).
    :ivar keep: given a file's new disk path (its archive for a member), whether to copy it;
        None copies every file of the roots.
    """

    roots: Mapping[str, str]
    move: Callable[[str, str, str], "str | None"]
    thumbnail: Callable[["str | None"], "str | None"] = lambda _path: None
    keep: Callable[[str], bool] | None = None


def _now() -> str:
    """The current UTC time, ISO 8601 with microseconds (as every timestamp of the store)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


def _exact(text: str, exact: bytes | None) -> str:
    return path_from_store(text, exact)


def _key(path: str) -> str | bytes:
    """The exact value of a path in the store: ``coalesce(path_bytes, path)``."""
    text, exact = stored_path(path)
    return text if exact is None else exact


def _text_or_bytes(path: str | None) -> str | bytes | None:
    """A path for a plain TEXT column: the text, or its exact bytes when it is not valid UTF-8."""
    if path is None:
        return None
    _text, exact = stored_path(path)
    return path if exact is None else exact


def _from_text_or_bytes(value: Any) -> str | None:
    return os.fsdecode(value) if isinstance(value, bytes) else value


def _tags(value: str | None) -> tuple[str, ...]:
    return tuple(sorted(value.split())) if value else ()


def _columns(db: Any, table: str) -> list[str]:
    return [r[1] for r in db.execute(f"pragma table_info([{table}])").fetchall()]


class CatalogueCopy:
    """The catalogue as the sync plugin copies it (see the module docstring).

    :param db: the library database.
    """

    def __init__(self, db: LibraryDatabase):
        self.db = db

    # -- reading, for a snapshot ---------------------------------------------------

    def roots(self) -> dict[int, str]:
        """Root id -> exact root path."""
        return {int(i): _exact(t, b) for i, t, b in self.db.execute("select id, path, path_bytes from roots")}

    def row_changes(self) -> tuple[int, str] | None:
        """``(changes, schema)``: how many rows of the catalogue tables were inserted, deleted or
        updated so far (m047's count, kept by triggers whoever writes), and the text of what
        else a copy's reading depends on (the ``create`` statements of ``files`` and ``models``,
        whose columns it reads all of, and of the triggers that keep the count). Read before
        the rows it stands for: the same pair later means none of them changed since. None on a
        database without the count or without one of its triggers (a table rebuilt drops them).

        (Not ``pragma schema_version``: sqlite-utils moves it by creating and dropping a probe
        table the first time a connection upserts.)"""
        try:
            row = self.db.execute("select row_changes from catalogue_changes where id = 1").fetchone()
        except sqlite3.OperationalError:
            return None
        if row is None:
            return None
        triggers = {f"{table}_row_changes_{event}" for table in CATALOGUE_TABLES for event in ("ai", "ad", "au")}
        schema = self.db.execute(
            "select type, name, sql from sqlite_master where (type = 'table' and name in ('files', 'models')) "
            f"or (type = 'trigger' and name in ({', '.join('?' * len(triggers))})) order by type, name",
            sorted(triggers),
        ).fetchall()
        if {name for kind, name, _ in schema if kind == "trigger"} != triggers:
            return None
        return int(row[0]), "\n".join(sql for _, _, sql in schema)

    def file_places(self, *, present_only: bool = False) -> list[Place]:
        """Where every file row lives (only the present ones with ``present_only``)."""
        sql = "select id, root_id, path, path_bytes, archive_path, missing from files"
        if present_only:
            sql += " where missing = 0"
        out = []
        for fid, root_id, text, exact, archive_text, missing in self.db.execute(sql):
            path = text if exact is None else _exact(text, exact)
            archive = (archive_text if exact is None else archive_of(path, text, archive_text)) if archive_text else None
            out.append(Place(int(fid), root_id, path, archive, bool(missing)))
        return out

    def model_places(self) -> list[Place]:
        """Where every model row lives."""
        return [
            Place(int(mid), root_id, _exact(text, exact))
            for mid, root_id, text, exact in self.db.execute("select id, root_id, path, path_bytes from models")
        ]

    def file_facts(self) -> Iterator[dict[str, Any]]:
        """Every file row without its place columns (:data:`FILE_PLACE_COLUMNS`); ``id`` and
        ``model_id`` are kept so the caller can say which file and model it is."""
        yield from self._facts("files", FILE_PLACE_COLUMNS)

    def model_facts(self) -> Iterator[dict[str, Any]]:
        """Every model row without its place columns (``id`` kept)."""
        yield from self._facts("models", MODEL_PLACE_COLUMNS)

    def _facts(self, table: str, skip: frozenset[str]) -> Iterator[dict[str, Any]]:
        cols = [c for c in _columns(self.db, table) if c not in skip]
        for row in self.db.execute(f"select {', '.join(f'[{c}]' for c in cols)} from [{table}]").fetchall():
            yield dict(zip(cols, row))

    def file_edits(self) -> list[FileEdits]:
        """Tags and notes of every present file."""
        return [
            FileEdits(int(fid), _tags(tags), notes or "")
            for fid, tags, notes in self.db.execute("select id, tags, notes from files where missing = 0")
        ]

    def model_edits(self, fields: Iterable[str]) -> list[ModelEdits]:
        """Tags and the columns ``fields`` (e.g. name, creator, notes) of every present model."""
        names = list(fields)
        known = set(_columns(self.db, "models"))
        unknown = [f for f in names if f not in known]
        if unknown:
            raise ValueError(f"models have no column {unknown[0]!r}")
        select = ", ".join(["id", "tags", *(f"[{f}]" for f in names)])
        return [
            ModelEdits(int(row[0]), _tags(row[1]), dict(zip(names, row[2:])))
            for row in self.db.execute(f"select {select} from models where missing = 0")
        ]

    def collections(self) -> list[CollectionRow]:
        """Every collection with its models' ids (sorted)."""
        members: dict[int, list[int]] = {}
        for cid, mid in self.db.execute("select collection_id, model_id from collection_models"):
            members.setdefault(int(cid), []).append(int(mid))
        return [
            CollectionRow(int(cid), name, description or "", tuple(sorted(members.get(int(cid), []))))
            for cid, name, description in self.db.execute("select id, name, description from collections")
        ]

    def backup(self, dest: str | os.PathLike[str], *, prepare: Callable[[sqlite3.Connection], None] | None = None) -> None:
        """A consistent copy of the whole database at ``dest`` (SQLite's online backup API),
        in rollback-journal mode so it is one self-contained file.

        :param prepare: called with a connection to the copy before it is closed (to empty
            tables that mean nothing elsewhere); its changes are committed.
        """
        Path(dest).unlink(missing_ok=True)
        target = sqlite3.connect(str(dest))
        try:
            self.db.conn.backup(target)
            if prepare is not None:
                with target:
                    prepare(target)
            target.execute("PRAGMA journal_mode = DELETE")
        finally:
            target.close()

    # -- writing ---------------------------------------------------------------------

    def set_collection_description(self, collection_id: int, description: str) -> None:
        """Set a collection's description."""
        with self.db.conn:
            self.db.execute("update collections set description = ? where id = ?", [description, collection_id])

    def mark_missing(self, disk_paths: Iterable[str]) -> int:
        """Mark missing every file row whose file (or archive) is one of ``disk_paths`` (exact);
        return how many rows changed."""
        wanted = set(disk_paths)
        ids = [p.id for p in self.file_places() if p.path in wanted or (p.archive is not None and p.archive in wanted)]
        with self.db.conn:
            self.db.conn.executemany("update files set missing = 1 where id = ?", [(fid,) for fid in ids])
            # their models as a scan leaves them (missing when none of their files is present)
            models: set[int | None] = set()
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                models.update(r[0] for r in self.db.execute(
                    f"select model_id from files where id in ({', '.join('?' * len(chunk))})", chunk))
            refresh_models_missing(self.db, models)
        return len(ids)

    def copy_from(self, source: str | os.PathLike[str], relocation: Relocation) -> CopiedRows:
        """Copy the catalogue rows of another library's database (a backup) into this one,
        moved as ``relocation`` says; rows already here (same exact path) are kept as they are.

        Roots, models, files, their tags and collections are copied in one transaction; the
        backup's schema is brought up to date first (it may come from an older version).
        """
        src = open_database(source)
        try:
            with self.db.conn:
                return _Copy(src, self.db, relocation).run()
        finally:
            src.close()


class _Copy:
    """One :meth:`CatalogueCopy.copy_from`: source rows -> destination rows."""

    def __init__(self, src: Any, dest: Any, relocation: Relocation):
        self.src, self.dest, self.r = src, dest, relocation
        self.root_ids: dict[int, tuple[int, str, str]] = {}  # source root id -> (new id, source path, new path)
        self.model_ids: dict[int, int] = {}
        self.file_ids: dict[int, int] = {}
        self.added = {"roots": 0, "models": 0, "files": 0, "collections": 0}

    def run(self) -> CopiedRows:
        self._roots()
        self._models()
        self._files()
        self._tags()
        self._collections()
        return CopiedRows(**self.added)

    def _insert(self, table: str, row: dict[str, Any]) -> int:
        cols = list(row)
        sql = f"insert into [{table}] ({', '.join(f'[{c}]' for c in cols)}) values ({', '.join('?' * len(cols))})"
        return int(self.dest.execute(sql, [row[c] for c in cols]).lastrowid)

    def _find(self, table: str, path: str) -> int | None:
        row = self.dest.execute(f"select id from [{table}] where coalesce(path_bytes, path) = ?", [_key(path)]).fetchone()
        return None if row is None else int(row[0])

    def _common(self, table: str) -> list[str]:
        here = set(_columns(self.dest, table))
        return [c for c in _columns(self.src, table) if c in here and c != "id"]

    def _roots(self) -> None:
        for sid, text, exact in self.src.execute("select id, path, path_bytes from roots").fetchall():
            spath = _exact(text, exact)
            if spath not in self.r.roots:
                continue
            new_path = self.r.roots[spath]
            rid = self._find("roots", new_path)
            if rid is None:
                shown, raw = stored_path(new_path)
                rid = self._insert("roots", {"path": shown, "path_bytes": raw, "added_at": _now()})
                self.added["roots"] += 1
            self.root_ids[int(sid)] = (rid, spath, new_path)

    def _models(self) -> None:
        cols = self._common("models")
        for row in self.src.execute(f"select id, {', '.join(f'[{c}]' for c in cols)} from models").fetchall():
            d = dict(zip(["id", *cols], row))
            if d.get("root_id") not in self.root_ids:
                continue
            rid, sroot, droot = self.root_ids[d["root_id"]]
            new_path = self.r.move(_exact(d["path"], d.get("path_bytes")), sroot, droot)
            if new_path is None:
                continue
            existing = self._find("models", new_path)
            if existing is not None:
                self.model_ids[d["id"]] = existing
                continue
            shown, raw = stored_path(new_path)
            d.update(root_id=rid, path=shown, path_bytes=raw)
            self.model_ids[d["id"]] = self._insert("models", {c: d[c] for c in cols})
            self.added["models"] += 1

    def _files(self) -> None:
        cols = self._common("files")
        for row in self.src.execute(f"select id, {', '.join(f'[{c}]' for c in cols)} from files").fetchall():
            d = dict(zip(["id", *cols], row))
            if d.get("root_id") not in self.root_ids:
                continue
            rid, sroot, droot = self.root_ids[d["root_id"]]
            path = _exact(d["path"], d.get("path_bytes"))
            archive = archive_of(path, d["path"], d["archive_path"]) if d.get("archive_path") else None
            if self.r.keep is not None:
                disk = self.r.move(archive or path, sroot, droot)
                if disk is None or not self.r.keep(disk):
                    continue
            new_path = self.r.move(path, sroot, droot)
            if new_path is None or self._find("files", new_path) is not None:
                continue
            new_archive = self.r.move(archive, sroot, droot) if archive else None
            shown, raw = stored_path(new_path)
            d.update(
                root_id=rid,
                path=shown,
                path_bytes=raw,
                archive_path=display_path(new_archive) if new_archive else None,
                model_id=self.model_ids.get(d["model_id"]) if d.get("model_id") is not None else None,
            )
            if "thumbnail_path" in d:
                d["thumbnail_path"] = _text_or_bytes(self.r.thumbnail(_from_text_or_bytes(d["thumbnail_path"])))
            self.file_ids[d["id"]] = self._insert("files", {c: d[c] for c in cols})
            self.added["files"] += 1

    def _tag_id(self, name: str) -> int:
        self.dest.execute("insert or ignore into tags (name) values (?)", [name])
        return int(self.dest.execute("select id from tags where name = ?", [name]).fetchone()[0])

    def _tags(self) -> None:
        for fid, name in self.src.execute(
            "select file_tags.file_id, tags.name from file_tags join tags on tags.id = file_tags.tag_id"
        ).fetchall():
            if fid in self.file_ids:
                self.dest.execute(
                    "insert or ignore into file_tags (file_id, tag_id) values (?, ?)",
                    [self.file_ids[fid], self._tag_id(name)],
                )
        for mid, name in self.src.execute(
            "select model_tags.model_id, tags.name from model_tags join tags on tags.id = model_tags.tag_id"
        ).fetchall():
            if mid in self.model_ids:
                self.dest.execute(
                    "insert or ignore into model_tags (model_id, tag_id) values (?, ?)",
                    [self.model_ids[mid], self._tag_id(name)],
                )

    def _collections(self) -> None:
        members: dict[int, list[int]] = {}
        for cid, mid in self.src.execute("select collection_id, model_id from collection_models").fetchall():
            if mid in self.model_ids:
                members.setdefault(int(cid), []).append(self.model_ids[mid])
        for cid, name, description, created in self.src.execute(
            "select id, name, description, created_at from collections"
        ).fetchall():
            row = self.dest.execute("select id from collections where name = ?", [name]).fetchone()
            if row is None:
                new = self._insert("collections", {"name": name, "description": description,
                                                   "created_at": created or _now()})  # fmt: skip
                self.added["collections"] += 1
            else:
                new = int(row[0])
            for m in members.get(int(cid), []):
                self.dest.execute(
                    "insert or ignore into collection_models (collection_id, model_id) values (?, ?)", [new, m]
                )
