"""The library: the public API over one catalogue.

    from printmanager_core import Library

    with Library("~/prints-library") as lib:
        lib.scan(["~/Prints"])
        for f in lib.files("format:stl triangles>100000"):
            print(f.path, f.triangles, f.bbox_mm)

The database indexes the user's files in place; nothing here moves or changes them.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import zipfile
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator, Sequence, TypeVar

from .errors import LibraryClosed, LibraryError, NotFound, UsageError, printable
from .locking import LOCK_NAME, Holder, WriteLock
from .paths import display_path, is_within, resolve_library_dir, stored_path
from .plugins import get_plugin_manager
from .readers.base import DEFAULT_LIMITS, Limits
from .records import FileRecord, ModelRecord, ScanReport
from .settings import Settings, now_iso
from .store import DB_NAME, LibraryDatabase, Store, open_database, prepare_library_dir

#: separator between an archive's path and a member path in ``FileRecord.path``
ARCHIVE_SEP = "!/"

_FILE_SELECT = (
    "select files.*, models.name as model_name, models.tags as model_tags "
    "from files left join models on models.id = files.model_id"
)
_MODEL_SELECT = (
    "select models.*, "
    "(select count(*) from files where files.model_id = models.id and files.missing = 0) as file_count, "
    "(select group_concat(collections.name, char(31)) from collection_models "
    " join collections on collections.id = collection_models.collection_id "
    " where collection_models.model_id = models.id) as collection_names "
    "from models"
)


log = logging.getLogger("printmanager")

_DEFAULT: Any = object()
_F = TypeVar("_F", bound=Callable[..., Any])


def _log_waiting(holder: Holder) -> None:
    log.warning("%s; waiting…", holder.describe())


def _writing(job: str) -> Callable[[_F], _F]:
    """Run a Library method under the library's write lock (``job`` names it to waiters)."""

    def decorate(method: _F) -> _F:
        @functools.wraps(method)
        def wrapper(self: "Library", *args: Any, **kwargs: Any) -> Any:
            with self.write_lock(job):
                return method(self, *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def _clean_tags(tags: Iterable[str]) -> list[str]:
    cleaned = []
    for tag in tags:
        t = tag.strip()
        if not t or any(c.isspace() for c in t):
            raise UsageError(f"tag {tag!r} must be one word without spaces")
        cleaned.append(t)
    return cleaned


class Library:
    """One catalogue: a library directory holding the database and caches.

    :param directory: the library directory; default ``$PRINTMANAGER_LIBRARY``,
        else the platform's user data directory. Created if missing.
    :param limits: bounds for reading hostile files.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        limits: Limits = DEFAULT_LIMITS,
        lock_timeout: float | None = None,
        on_lock_wait: Callable[[Holder], None] | None = None,
    ):
        self.directory: Path = resolve_library_dir(directory)
        self.limits = limits
        #: seconds a writing job (scan, delete) waits for another one: None waits
        #: as long as it takes, 0 refuses at once with :class:`LibraryBusy`
        self.lock_timeout = lock_timeout
        #: called once with the holder when a job has to wait (default: a log warning)
        self.on_lock_wait = on_lock_wait
        prepare_library_dir(self.directory)
        self._write_lock = WriteLock(self.directory / LOCK_NAME)
        self.db: LibraryDatabase = open_database(self.directory / DB_NAME)
        #: the typed gateways over the database (printmanager_core.store)
        self.store = Store(self.db)
        try:
            self.settings = Settings(self.db)
            self.pm = get_plugin_manager()
            from .privacy.retention import apply_on_open

            apply_on_open(self)
        except BaseException:
            self.db.close()
            raise

    @property
    def db_path(self) -> Path:
        """The SQLite database file."""
        return self.directory / DB_NAME

    # -- lifecycle ---------------------------------------------------------

    def close(self) -> None:
        """Close the database (every thread's connection); the library cannot be used after."""
        self.db.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self.db.closed

    def __enter__(self) -> "Library":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the write lock ------------------------------------------------------

    @contextlib.contextmanager
    def write_lock(self, job: str = "writer", *, timeout: float | None | object = _DEFAULT) -> Iterator[None]:
        """Hold the library's write lock for a writing job (see docs/guide.md "Threads and processes").

        One job at a time per library, across processes and threads; re-entrant in
        one thread. Short edits (tags, notes, settings) don't need it: SQLite's own
        write lock serialises them.

        :param job: what the job is, named to whoever waits ("scan").
        :param timeout: seconds to wait (default :attr:`lock_timeout`).
        :raises LibraryBusy: another job held the lock for longer than ``timeout``.
        """
        wait = self.lock_timeout if timeout is _DEFAULT else timeout
        on_wait = self.on_lock_wait or _log_waiting
        with self._write_lock.hold(job, timeout=wait, on_wait=on_wait):  # type: ignore[arg-type]
            if self.closed:
                raise LibraryClosed("the library is closed")
            if not self.db_path.exists():
                self._write_lock.discard()
                raise LibraryError(f"the library {printable(self.directory)} was deleted while this {job} waited")
            yield

    def lock_holder(self) -> Holder | None:
        """Who holds the write lock now (pid and job), or None when nobody does."""
        return self._write_lock.holder()

    # -- roots and scanning --------------------------------------------------

    def add_root(self, path: str | os.PathLike[str]) -> int:
        """Add a folder to the library (not scanned yet); returns its root's id.

        Roots never overlap: a folder inside a root is part of that root (its id
        is returned); a folder holding roots becomes the root they are folded
        into, keeping their files' ids, tags and notes (docs/guide.md, "Roots").
        """
        from .roots import place

        p = Path(path).expanduser().resolve()
        if not p.is_dir():
            raise NotFound(f"{display_path(str(path))}: not a folder")
        return place(self.db, p)

    def roots(self) -> list[str]:
        """The folders added to the library (exact paths), in path order."""
        from .roots import root_rows

        return sorted(path for _, path in root_rows(self.db))

    @_writing("scan")
    def scan(
        self,
        paths: Sequence[str | os.PathLike[str]] = (),
        *,
        workers: int | None = None,
        progress: Callable[[int, int], None] | None = None,
        thumbnails: bool = True,
    ) -> ScanReport:
        """Add ``paths`` as roots (if given) and scan them, or every root.

        A path inside a root rescans only that folder of its root. Incremental: a
        file with the same size and mtime is not read again.

        :param workers: reader processes (default: the CPU count; 1 reads in-process).
        :param progress: called as ``progress(done, total)`` while files are read.
        :param thumbnails: let plugins make thumbnails after the scan.
        """
        from .roots import containing_root, fold_nested, root_rows
        from .scan import Scanner, Target

        fold_nested(self.db)  # heals a library whose roots overlap
        folders = []
        for p in paths:
            self.add_root(p)
            folders.append(str(Path(p).expanduser().resolve()))
        targets: list[Target] = []
        if paths:
            for folder in folders:
                root_id, root = containing_root(self.db, folder) or (0, "")
                targets.append(Target(root_id, Path(root), Path(folder)))
            # a folder inside another folder of the same scan is walked once
            targets = [t for i, t in enumerate(targets) if not any(
                j != i and o.root_id == t.root_id and is_within(str(t.folder), str(o.folder))
                and (o.folder != t.folder or j < i) for j, o in enumerate(targets)
            )]
        else:
            targets = [Target(root_id, Path(root), Path(root)) for root_id, root in root_rows(self.db)]
        scanner = Scanner(self, workers=workers, progress=progress)
        report = scanner.scan(targets)
        report.thumbnails = thumbnails
        if not report.interrupted:
            from .plugins import call_hook_safely  # a plugin that raises is named and stepped around

            call_hook_safely("scan_finished", library=self, report=report)
        return report

    # -- browsing ------------------------------------------------------------

    def files(
        self, query: str = "", *, include_missing: bool = False, limit: int | None = None
    ) -> list[FileRecord]:
        """Files matching ``query`` (see docs/query.md), ordered by path.

        Names are searched as their display text: an undecodable byte in a query
        (as a shell passes it) or written ``\\xNN`` matches that byte in a name.
        """
        from .query import parse_query

        where, params = parse_query(display_path(query or "")).sql()
        if not include_missing:
            where = f"({where}) and files.missing = 0"
        sql = f"{_FILE_SELECT} where {where} order by files.path"
        if limit is not None:
            sql += f" limit {int(limit)}"
        return [FileRecord.from_row(dict(r)) for r in self._rows(sql, params)]

    #: what :meth:`files_page` sorts by: the user's word and the column
    FILE_SORTS = {
        "path": "files.path",
        "name": "files.name",
        "date": "files.mtime_ns",
        "added": "files.added_at",
        "size": "files.size_bytes",
        "triangles": "files.triangles",
        "time": "files.print_time_s",
    }

    def files_page(
        self,
        query: str = "",
        *,
        sort: str = "path",
        descending: bool = False,
        offset: int = 0,
        limit: int = 60,
        after: int | None = None,
        before: int | None = None,
    ) -> list[FileRecord]:
        """One page of the present files matching ``query`` (as :meth:`files`), in ``sort`` order.

        Unknown values (None) sort last either way; ties go by id. Page with
        ``offset``, or (fast at any depth: read off the sort's index) with
        ``after=ID`` (the page after the file ``ID``, the last of the page before)
        or ``before=ID`` (the page before it, the first of the page after).

        :param sort: a key of :attr:`FILE_SORTS` (``name``, ``date``, ``size``,
            ``triangles``, ``time``, ``added``, ``path``).
        :raises UsageError: an unknown sort, or a bad query.
        :raises NotFound: ``after``/``before`` names no file.
        """
        from .query import parse_query

        column = self.FILE_SORTS.get(sort)
        if column is None:
            raise UsageError(f"cannot sort by {sort!r} (choose from {', '.join(self.FILE_SORTS)})")
        where, params = parse_query(display_path(query or "")).sql()
        limit = max(0, int(limit))
        base = f"{_FILE_SELECT} where ({where}) and files.missing = 0"
        if after is None and before is None:
            direction = "desc" if descending else "asc"
            order = f"{column} {direction} nulls last, files.id {direction}"  # read off the m008 indexes
            sql = f"{base} order by {order} limit {limit} offset {max(0, int(offset))}"
            return [FileRecord.from_row(dict(r)) for r in self._rows(sql, params)]
        anchor = int(after if after is not None else before)  # type: ignore[arg-type]
        found = self.db.execute(f"select {column} from files where id = ?", [anchor]).fetchone()
        if found is None:
            raise NotFound(f"no file {anchor} in the library")
        value = found[0]
        forward = before is None
        ascending = (not descending) == forward  # the direction this walk reads the index in
        cmp, d = (">", "asc") if ascending else ("<", "desc")

        def values_from(n: int) -> list[dict[str, Any]]:
            return self._rows(f"{base} and ({column}, files.id) {cmp} (?, ?) order by {column} {d}, files.id {d} "
                              f"limit {n}", [*params, value, anchor])

        def nulls_from(n: int) -> list[dict[str, Any]]:
            return self._rows(f"{base} and {column} is null and files.id {cmp} ? order by files.id {d} limit {n}",
                              [*params, anchor])

        def all_nulls(n: int) -> list[dict[str, Any]]:
            return self._rows(f"{base} and {column} is null order by files.id {d} limit {n}", params)

        def all_values(n: int) -> list[dict[str, Any]]:
            return self._rows(f"{base} and {column} is not null order by {column} {d}, files.id {d} limit {n}", params)

        if forward:  # known values, then the unknown ones
            rows = values_from(limit) if value is not None else nulls_from(limit)
            if value is not None and len(rows) < limit:
                rows += all_nulls(limit - len(rows))
        else:  # walking back from the end: the unknown ones, then known values
            rows = nulls_from(limit) if value is None else values_from(limit)
            if value is None and len(rows) < limit:
                rows += all_values(limit - len(rows))
            rows.reverse()
        return [FileRecord.from_row(dict(r)) for r in rows]

    def count_files(self, query: str = "") -> int:
        """How many present files match ``query``."""
        from .query import parse_query

        where, params = parse_query(display_path(query or "")).sql()
        row = self.db.execute(f"select count(*) from files where ({where}) and files.missing = 0", list(params))
        return int(row.fetchone()[0])

    def models(self, query: str = "", *, include_missing: bool = False) -> list[ModelRecord]:
        """Models with at least one file matching ``query``, ordered by name."""
        from .query import parse_query

        where, params = parse_query(display_path(query or "")).sql()
        missing = "" if include_missing else " and models.missing = 0"
        sql = (
            f"{_MODEL_SELECT} where models.id in (select files.model_id from files where {where}"
            f"{'' if include_missing else ' and files.missing = 0'}){missing} order by models.name, models.path"
        )
        return [ModelRecord.from_row(dict(r)) for r in self._rows(sql, params)]

    def models_page(self, query: str = "", *, offset: int = 0, limit: int = 60) -> tuple[list[ModelRecord], int]:
        """One page of :meth:`models` (same order) and how many models match in all."""
        from .query import parse_query

        where, params = parse_query(display_path(query or "")).sql()
        matching = (f"models.missing = 0 and models.id in (select files.model_id from files where ({where}) "
                    "and files.missing = 0)")
        total = int(self.db.execute(f"select count(*) from models where {matching}", list(params)).fetchone()[0])
        sql = (f"{_MODEL_SELECT} where {matching} order by models.name, models.path "
               f"limit {max(0, int(limit))} offset {max(0, int(offset))}")
        return [ModelRecord.from_row(dict(r)) for r in self._rows(sql, params)], total

    def file(self, id_or_path: int | str | os.PathLike[str]) -> FileRecord:
        """One file by id or by path (absolute or relative to the current directory).

        A path may be the exact name (as ``os`` and the shell give it) or its
        display text (undecodable bytes written ``\\xNN``, as ``ls`` prints it).
        """
        row = None
        if isinstance(id_or_path, int) or (isinstance(id_or_path, str) and id_or_path.isdigit()):
            row = self._one(f"{_FILE_SELECT} where files.id = ?", [int(id_or_path)])
        if row is None:
            text = os.fspath(id_or_path) if not isinstance(id_or_path, int) else str(id_or_path)
            candidates = [text]
            if ARCHIVE_SEP not in text:
                candidates.append(str(Path(text).expanduser().resolve()))
            else:
                archive, member = text.split(ARCHIVE_SEP, 1)
                candidates.append(str(Path(archive).expanduser().resolve()) + ARCHIVE_SEP + member)
            row = self._by_path(_FILE_SELECT, "files", candidates)
        if row is None:
            raise NotFound(f"no file {display_path(str(id_or_path))} in the library")
        return FileRecord.from_row(row)

    def model(self, id_or_path: int | str | os.PathLike[str]) -> ModelRecord:
        """One model by id or by its folder/archive path (exact or display text)."""
        row = None
        if isinstance(id_or_path, int) or (isinstance(id_or_path, str) and id_or_path.isdigit()):
            row = self._one(f"{_MODEL_SELECT} where models.id = ?", [int(id_or_path)])
        if row is None:
            text = os.fspath(id_or_path) if not isinstance(id_or_path, int) else str(id_or_path)
            row = self._by_path(_MODEL_SELECT, "models", [text, str(Path(text).expanduser().resolve())])
        if row is None:
            raise NotFound(f"no model {display_path(str(id_or_path))} in the library")
        return ModelRecord.from_row(row)

    def _by_path(self, select: str, table: str, candidates: list[str]) -> dict[str, Any] | None:
        """The row whose exact path is a candidate, else the one whose display text is."""
        for cand in candidates:
            text, exact = stored_path(cand)
            row = self._one(f"{select} where coalesce({table}.path_bytes, {table}.path) = ?",
                            [text if exact is None else exact])
            if row:
                return row
        for cand in candidates:
            rows = self._rows(f"{select} where {table}.path = ? limit 2", [display_path(cand)])
            if len(rows) == 1:
                return rows[0]
            if rows:
                raise UsageError(f"more than one name is shown as {display_path(cand)}; use the id")
        return None

    def model_files(self, model_id: int, *, include_missing: bool = False) -> list[FileRecord]:
        """The files of one model."""
        missing = "" if include_missing else " and files.missing = 0"
        sql = f"{_FILE_SELECT} where files.model_id = ?{missing} order by files.path"
        return [FileRecord.from_row(dict(r)) for r in self._rows(sql, [model_id])]

    def duplicates(self) -> list[list[FileRecord]]:
        """Groups of present files with the same content hash (two or more each)."""
        sql = (
            f"{_FILE_SELECT} where files.missing = 0 and files.hash in "
            "(select hash from files where missing = 0 and hash is not null group by hash having count(*) > 1) "
            "order by files.hash, files.path"
        )
        groups: dict[str, list[FileRecord]] = {}
        for row in self._rows(sql, []):
            rec = FileRecord.from_row(dict(row))
            groups.setdefault(rec.hash or "", []).append(rec)
        return list(groups.values())

    def open_file(self, file: FileRecord | int | str) -> IO[bytes]:
        """Open a catalogued file's content for reading (archive members too)."""
        rec = file if isinstance(file, FileRecord) else self.file(file)
        if rec.archive_path:
            from .readers.ziputil import read_member, safe_members

            member = rec.path.split(ARCHIVE_SEP, 1)[1]
            zf = zipfile.ZipFile(rec.archive_path)
            try:
                infos = {i.filename: i for i in safe_members(zf, self.limits)}
                if member not in infos:
                    raise NotFound(f"{member} is no longer in {rec.archive_path}")
                import io

                return io.BytesIO(read_member(zf, infos[member], self.limits))
            finally:
                zf.close()
        return open(rec.path, "rb")

    # -- tags, notes, model fields -------------------------------------------

    def tag(self, file_id: int | str, *tags: str) -> FileRecord:
        """Add tags to a file."""
        return self._change_tags("file", file_id, _clean_tags(tags), add=True)

    def untag(self, file_id: int | str, *tags: str) -> FileRecord:
        """Remove tags from a file (absent tags are ignored)."""
        return self._change_tags("file", file_id, _clean_tags(tags), add=False)

    def tag_model(self, model_id: int | str, *tags: str) -> ModelRecord:
        """Add tags to a model."""
        return self._change_tags("model", model_id, _clean_tags(tags), add=True)

    def untag_model(self, model_id: int | str, *tags: str) -> ModelRecord:
        """Remove tags from a model."""
        return self._change_tags("model", model_id, _clean_tags(tags), add=False)

    def tags(self) -> dict[str, int]:
        """Every tag in use and how many files and models carry it."""
        rows = self.db.execute(
            "select tags.name, "
            "(select count(*) from file_tags where tag_id = tags.id) + "
            "(select count(*) from model_tags where tag_id = tags.id) "
            "from tags order by tags.name"
        ).fetchall()
        return {name: count for name, count in rows if count}

    def set_file_notes(self, file_id: int | str, notes: str) -> FileRecord:
        """Replace a file's notes."""
        rec = self.file(file_id)
        with self.db.conn:
            self.db.table("files").update(rec.id, {"notes": notes})
        return self.file(rec.id)

    def update_model(self, model_id: int | str, **fields: Any) -> ModelRecord:
        """Set a model's ``name``, ``creator``, ``source_url``, ``licence`` or ``notes``."""
        allowed = {"name", "creator", "source_url", "licence", "notes"}
        unknown = set(fields) - allowed
        if unknown:
            raise UsageError(f"cannot set {', '.join(sorted(unknown))} on a model (allowed: {', '.join(sorted(allowed))})")
        rec = self.model(model_id)
        with self.db.conn:
            self.db.table("models").update(rec.id, {**fields, "updated_at": now_iso()})
        return self.model(rec.id)

    # -- collections -----------------------------------------------------------

    def collections(self) -> list[dict[str, Any]]:
        """Every collection with its description and model ids."""
        out = []
        for row in self.db.execute("select id, name, description from collections order by name").fetchall():
            ids = [r[0] for r in self.db.execute(
                "select model_id from collection_models where collection_id = ? order by model_id", [row[0]]
            )]
            out.append({"id": row[0], "name": row[1], "description": row[2] or "", "models": ids})
        return out

    def create_collection(self, name: str, description: str = "") -> int:
        """Create a collection (or return the existing one's id)."""
        if not name.strip():
            raise UsageError("a collection needs a name")
        row = self.db.execute("select id from collections where name = ?", [name]).fetchone()
        if row:
            return int(row[0])
        with self.db.conn:
            return int(self.db.table("collections").insert(
                {"name": name, "description": description, "created_at": now_iso()}
            ).last_pk)

    def add_to_collection(self, name: str, *model_ids: int | str) -> None:
        """Add models to a collection, creating it if needed."""
        cid = self.create_collection(name)
        ids = [self.model(m).id for m in model_ids]
        with self.db.conn:
            self.db.table("collection_models").insert_all(
                [{"collection_id": cid, "model_id": i} for i in ids], ignore=True
            )

    def remove_from_collection(self, name: str, *model_ids: int | str) -> None:
        """Remove models from a collection."""
        row = self.db.execute("select id from collections where name = ?", [name]).fetchone()
        if row is None:
            raise NotFound(f"no collection {name!r}")
        ids = [self.model(m).id for m in model_ids]
        with self.db.conn:
            for i in ids:
                self.db.execute(
                    "delete from collection_models where collection_id = ? and model_id = ?", [row[0], i]
                )

    def delete_collection(self, name: str) -> None:
        """Delete a collection (its models stay)."""
        row = self.db.execute("select id from collections where name = ?", [name]).fetchone()
        if row is None:
            raise NotFound(f"no collection {name!r}")
        with self.db.conn:
            self.db.execute("delete from collection_models where collection_id = ?", [row[0]])
            self.db.execute("delete from collections where id = ?", [row[0]])

    # -- internals ---------------------------------------------------------

    def _rows(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        cur = self.db.execute(sql, list(params))
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]

    def _one(self, sql: str, params: Sequence[Any]) -> dict[str, Any] | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def _change_tags(self, kind: str, target: int | str, tags: list[str], *, add: bool) -> Any:
        rec = self.file(target) if kind == "file" else self.model(target)
        table, link, key = (
            ("files", "file_tags", "file_id") if kind == "file" else ("models", "model_tags", "model_id")
        )
        with self.db.conn:
            for tag in tags:
                if add:
                    self.db.execute("insert or ignore into tags (name) values (?)", [tag])
                    tag_id = self.db.execute("select id from tags where name = ?", [tag]).fetchone()[0]
                    self.db.execute(f"insert or ignore into {link} ({key}, tag_id) values (?, ?)", [rec.id, tag_id])
                else:
                    self.db.execute(
                        f"delete from {link} where {key} = ? and tag_id = (select id from tags where name = ?)",
                        [rec.id, tag],
                    )
            names = [r[0] for r in self.db.execute(
                f"select tags.name from {link} join tags on tags.id = {link}.tag_id where {key} = ? order by tags.name",
                [rec.id],
            )]
            self.db.execute(f"update {table} set tags = ? where id = ?", [" ".join(names), rec.id])
        return self.file(rec.id) if kind == "file" else self.model(rec.id)
