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
import io
import logging
import os
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable, Iterable, Iterator, Literal, Sequence, TypeVar

from . import problems, problems_refresh
from .errors import LibraryClosed, LibraryError, NotFound, UsageError, printable
from .locking import LOCK_NAME, Holder, WriteLock
from .paths import display_path, is_within, resolve_library_dir
from .plugins import call_hook_safely, get_plugin_manager
from .readers.base import DEFAULT_LIMITS, Limits
from .query import parse_query, plan_count, plan_first_page, whole_words
from .records import CollectionRecord, FileRecord, ModelRecord, RootRecord, ScanOptions, ScanReport
from .roots import containing_root, fold_nested, place
from .settings import Settings
from .store import DB_NAME, PlainDatabase, Store, prepare_library_dir
from .store.files import FilesGateway
from .store.models import EDITABLE as MODEL_FIELDS

if TYPE_CHECKING:  # pragma: no cover
    from datetime import datetime

    from .privacy.retention import RetentionReport
    from .records import PrintRecord

#: separator between an archive's path and a member path in ``FileRecord.path``
ARCHIVE_SEP = "!/"

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
    :param light: open for reading the core's catalogue (``printmanager ls``): while the
        schema stamp says no migration is pending (the core's or a plugin's: see
        :mod:`printmanager_core.store.stamp`), the database opens over plain ``sqlite3``
        without importing sqlite-utils or any migration set, and :attr:`store`'s ``db`` is
        a :class:`~printmanager_core.store.PlainDatabase` (the gateways work; sqlite-utils'
        table API, which plugins' own stores use, does not). Otherwise the library opens
        as usual, migrating.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        limits: Limits = DEFAULT_LIMITS,
        lock_timeout: float | None = None,
        on_lock_wait: Callable[[Holder], None] | None = None,
        light: bool = False,
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
        # the connection and the plugin manager are private: the store's gateways
        # (``store``) and the hook relay (``hook``) are the public ways in
        current: PlainDatabase | None = None
        if light:
            from .plugin_schema import schema_key
            from .store.stamp import open_current

            self._pm = get_plugin_manager()
            current = open_current(self.directory / DB_NAME, schema_key())
        if current is None:
            from .store.connection import open_database

            current = open_database(self.directory / DB_NAME)
            full = True
        else:
            full = False
        self._db: PlainDatabase = current
        #: the typed gateways over the database (printmanager_core.store)
        self.store = Store(self._db)
        try:
            self.settings = Settings(self._db)
            self._pm = get_plugin_manager()
            if full:
                from .plugin_schema import migrate_plugins_and_stamp

                # plugins' own tables, after the core's (docs/plugin_hooks.md); then the stamp
                migrate_plugins_and_stamp(self._db)  # type: ignore[arg-type]
        except BaseException:
            self._db.close()
            raise

    @property
    def hook(self) -> Any:
        """The plugins' hooks, to call one as the library does: ``library.hook.make_thumbnail(...)``."""
        return self._pm.hook

    @property
    def db_path(self) -> Path:
        """The SQLite database file."""
        return self.directory / DB_NAME

    # -- lifecycle ---------------------------------------------------------

    def close(self) -> None:
        """Close the database (every thread's connection); the library cannot be used after."""
        self._db.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._db.closed

    def __enter__(self) -> "Library":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- privacy -------------------------------------------------------------

    def apply_retention(self, *, now: "datetime | None" = None) -> "RetentionReport":
        """Delete every record a retention rule says has expired (docs/privacy.md, "Retention").

        Opening a library deletes nothing; the CLI calls this after each command
        (while ``retention.auto`` is on) and ``printmanager privacy retention
        apply`` does on request. An app embedding the library calls it on its
        own schedule (e.g. daily). Errors are raised, not swallowed.

        :param now: the moment the cutoffs are counted from (default: now).
        """
        from .privacy import retention

        report = retention.apply(self._db, self.settings, now=now)
        self.hook.apply_retention(library=self, report=report, now=now)  # plugins' own (e.g. share bundles)
        return report

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
        p = Path(path).expanduser().resolve()
        if not p.is_dir():
            raise NotFound(f"{display_path(str(path))}: not a folder")
        return place(self.store, p)

    def roots(self) -> list[str]:
        """The folders added to the library (exact paths), in path order."""
        return [r.path for r in self.root_records()]

    def root_records(self) -> list[RootRecord]:
        """The roots of the library as records (id, exact path, when added), in path order."""
        return sorted(self.store.roots.all(), key=lambda r: r.path)

    def root_counts(self) -> dict[int, tuple[int, int]]:
        """Root id → (present files, models) for every root."""
        return self.store.roots.counts()

    def find_root(self, root: int | str | os.PathLike[str]) -> RootRecord:
        """One root by id or by its folder (exact, display text, or relative to here).

        :raises NotFound: no root is that folder (a folder inside a root is not a root).
        """
        records = self.root_records()
        text = os.fspath(root) if not isinstance(root, int) else str(root)
        if text.isdigit():
            for r in records:
                if r.id == int(text):
                    return r
        candidates = {text, str(Path(text).expanduser().resolve())}
        for r in records:
            if r.path in candidates or display_path(r.path) in candidates:
                return r
        raise NotFound(f"{display_path(text)} is not a root of the library (see: printmanager roots)")

    @_writing("roots rm")
    def remove_root(self, root: int | str | os.PathLike[str]) -> dict[str, Any]:
        """Take a root out of the library: its files and models leave the catalogue with
        their tags, notes, collection memberships and print log. Nothing on disk changes.

        :returns: ``{"root": path, "files": n, "models": n, "prints": n}`` (what was removed).
        """
        rec = self.find_root(root)
        with self.store.transaction():
            counts = self.store.roots.remove(rec.id)
        return {"id": rec.id, "root": display_path(rec.path), **counts}

    @_writing("scan")
    def scan(
        self,
        paths: Sequence[str | os.PathLike[str]] = (),
        *,
        workers: int | None = None,
        progress: Callable[[int, int], None] | None = None,
        thumbnails: bool = True,
        add_root: bool = False,
        after_progress: Callable[[int, int], None] | None = None,
    ) -> ScanReport:
        """Add ``paths`` as roots (if given) and scan them, or every root.

        A path inside a root rescans only that folder of its root. A file scans
        that one file into its root; a file outside every root is refused unless
        ``add_root`` (its folder then becomes a root, and only the file is read).
        Incremental: a file with the same size and mtime is not read again.

        :param workers: reader processes (default: the CPU count; 1 reads in-process).
        :param progress: called as ``progress(done, total)`` while files are read.
        :param thumbnails: let plugins make thumbnails after the scan.
        :param after_progress: called as ``progress(done, total)`` by plugins working
            after the scan (the thumbnails), see :class:`ScanOptions`.
        """
        # the scanner (and through it every reader) loads when a scan runs, not when the
        # package is imported: `printmanager --help` and embedding apps that only read stay light
        from .scan import Scanner, Target

        fold_nested(self.store)  # heals a library whose roots overlap
        folders = []
        singles: list[tuple[str, str]] = []  # (folder, file name) of each file given
        for p in paths:
            given = Path(p).expanduser()
            if given.exists() and not given.is_dir():
                parent = str(given.parent.resolve())
                if containing_root(self.store, parent) is None:
                    if not add_root:
                        raise UsageError(f"{display_path(str(p))} is not inside any root of the library "
                                         "(scan a folder holding it, or add its folder with --add-root)")
                    place(self.store, Path(parent))
                singles.append((parent, given.name))
                continue
            self.add_root(p)
            folders.append(str(given.resolve()))
        targets: list[Target] = []
        if paths:
            for parent, name in singles:
                if any(is_within(parent, f) for f in folders):
                    continue  # its folder is scanned anyway
                found = containing_root(self.store, parent)
                assert found is not None
                targets.append(Target(found.id, Path(found.path), Path(parent), name))
            for folder in folders:
                found = containing_root(self.store, folder)
                root_id, root = (found.id, found.path) if found else (0, "")
                targets.append(Target(root_id, Path(root), Path(folder)))
            # a folder inside another folder of the same scan is walked once
            targets = [t for i, t in enumerate(targets) if not any(
                j != i and o.root_id == t.root_id and o.only is None and is_within(str(t.folder), str(o.folder))
                and (o.folder != t.folder or j < i or t.only is not None) for j, o in enumerate(targets)
            )]
        else:
            targets = [Target(r.id, Path(r.path), Path(r.path)) for r in self.store.roots.all()]
        scanner = Scanner(self.store, limits=self.limits, library_dir=self.directory, workers=workers,
                          progress=progress, on_event=self._file_event if self._wants_file_events() else None)
        report = scanner.scan(targets)
        if not self.store.problems.current():  # else no file or model changed since the last fill
            # creator/licence from 3MF metadata, empty fields only: of the models changed
            # since the last refresh, when its log (m038) says which
            trusted, upto, files = self.store.problems.log_state()
            changed = self.store.problems.logged_model_ids(upto) \
                if trusted and files <= problems_refresh.INCREMENTAL_LIMIT else None
            self.store.models.fill_from_file_metadata(changed)
        from . import sidecars

        # datapackage.json sidecars, empty fields only, when changed: in the folders walked
        # in full, only where the walk saw one
        walked_in_full = [str(t.folder) for t in targets if t.only is None] if not report.interrupted else []
        sidecars.import_all(self, walked=walked_in_full, seen=scanner.sidecar_folders)
        problems_refresh.refresh(self.store, changed_ids=report.changed_ids, empty_folders=report.empty_folders,
                         walked=[str(t.folder) for t in targets], silence=problems.silenced(self.settings.all()))
        if not report.interrupted:
            call_hook_safely("scan_finished", library=self, report=report, options=ScanOptions(thumbnails=thumbnails, progress=after_progress))
        return report

    def _wants_file_events(self) -> bool:
        hook = self._pm.hook
        return any(getattr(hook, h).get_hookimpls() for h in ("file_added", "file_changed", "file_removed"))

    def _file_event(self, hook_name: str, file: FileRecord, **extra: Any) -> None:
        # a plugin whose hook raises is named, recorded and stepped around
        call_hook_safely(hook_name, library=self, file=file, **extra)

    # -- browsing ------------------------------------------------------------

    def files(
        self, query: str = "", *, include_missing: bool = False, limit: int | None = None
    ) -> list[FileRecord]:
        """Files matching ``query`` (see docs/query.md), ordered by path.

        Names are searched as their display text: an undecodable byte in a query
        (as a shell passes it) or written ``\\xNN`` matches that byte in a name.
        """
        parsed = parse_query(display_path(query or ""))
        if limit is None:
            return self.store.files.select(parsed, include_missing=include_missing)
        # a page: walk the path index or start from a short list, whichever is quicker (issue 11);
        # a prefix word no longer word extends is read as the whole word (its list unmerged)
        plan = plan_first_page(whole_words(parsed, self.store.search.extended), self.store.search.long_list)
        return self.store.search.first_page(plan, include_missing=include_missing, limit=limit)

    def iter_files(self, query: str = "", *, include_missing: bool = False, page: int = 500) -> Iterator[FileRecord]:
        """Files matching ``query`` in path order, read ``page`` at a time (for big catalogues).

        Each page is a short read of its own: nothing is held open between pages,
        and what is written meanwhile past the current position is seen.
        """
        if page < 1:
            raise UsageError("page must be at least 1")
        return self.store.files.iterate(parse_query(display_path(query or "")), include_missing=include_missing,
                                        page=page)

    #: what :meth:`files_page` sorts by: ``path``, ``name``, ``date`` (modified), ``added``,
    #: ``size``, ``triangles``, ``time`` (print time)
    FILE_SORTS = tuple(FilesGateway.SORTS)

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

        :param sort: one of :attr:`FILE_SORTS`.
        :raises UsageError: an unknown sort, or a bad query.
        :raises NotFound: ``after``/``before`` names no file.
        """
        if sort not in FilesGateway.SORTS:
            raise UsageError(f"cannot sort by {sort!r} (choose from {', '.join(self.FILE_SORTS)})")
        page = self.store.files.page(parse_query(display_path(query or "")), sort=sort, descending=descending,
                                     offset=offset, limit=limit, after=after, before=before)
        if page is None:
            raise NotFound(f"no file {after if after is not None else before} in the library")
        return page

    def count_files(self, query: str = "") -> int:
        """How many present files match ``query``."""
        parsed = whole_words(parse_query(display_path(query or "")), self.store.search.extended)
        return self.store.search.count(plan_count(parsed))

    def models(self, query: str = "", *, include_missing: bool = False) -> list[ModelRecord]:
        """Models with at least one file matching ``query``, ordered by name."""
        return self.store.models.select(parse_query(display_path(query or "")), include_missing=include_missing)

    def models_page(self, query: str = "", *, offset: int = 0, limit: int = 60) -> tuple[list[ModelRecord], int]:
        """One page of :meth:`models` (same order) and how many models match in all."""
        return self.store.models.page(parse_query(display_path(query or "")), offset=offset, limit=limit)

    def file(self, id_or_path: int | str | os.PathLike[str]) -> FileRecord:
        """One file by id or by path (absolute or relative to the current directory).

        A path may be the exact name (as ``os`` and the shell give it) or its
        display text (undecodable bytes written ``\\xNN``, as ``ls`` prints it).
        """
        rec = None
        if isinstance(id_or_path, int) or (isinstance(id_or_path, str) and id_or_path.isdigit()):
            rec = self.store.files.by_id(int(id_or_path))
        if rec is None:
            text = os.fspath(id_or_path) if not isinstance(id_or_path, int) else str(id_or_path)
            candidates = [text]
            if ARCHIVE_SEP not in text:
                candidates.append(str(Path(text).expanduser().resolve()))
            else:
                archive, member = text.split(ARCHIVE_SEP, 1)
                candidates.append(str(Path(archive).expanduser().resolve()) + ARCHIVE_SEP + member)
            rec = self.store.files.by_path(candidates)
        if rec is None:
            raise NotFound(f"no file {display_path(str(id_or_path))} in the library")
        return rec

    def model(self, id_or_path: int | str | os.PathLike[str]) -> ModelRecord:
        """One model by id or by its folder/archive path (exact or display text)."""
        rec = None
        if isinstance(id_or_path, int) or (isinstance(id_or_path, str) and id_or_path.isdigit()):
            rec = self.store.models.by_id(int(id_or_path))
        if rec is None:
            text = os.fspath(id_or_path) if not isinstance(id_or_path, int) else str(id_or_path)
            rec = self.store.models.by_path([text, str(Path(text).expanduser().resolve())])
        if rec is None:
            raise NotFound(f"no model {display_path(str(id_or_path))} in the library")
        return rec

    def model_files(self, model_id: int, *, include_missing: bool = False) -> list[FileRecord]:
        """The files of one model."""
        return self.store.files.of_model(model_id, include_missing=include_missing)

    def duplicates(self) -> list[list[FileRecord]]:
        """Groups of present files with the same content hash (two or more each)."""
        groups: dict[str, list[FileRecord]] = {}
        for rec in self.store.files.duplicates():
            groups.setdefault(rec.hash or "", []).append(rec)
        return list(groups.values())

    def problems(
        self, query: str = "", *, kinds: Sequence[str] | None = None, severity: str | None = None
    ) -> list[problems.Problem]:
        """Problems of the files matching ``query`` (and of their models), most severe first.

        The empty query also gives the problems of folders. Silenced kinds
        (severity ``off``) are left out; so are the kinds not in ``kinds`` and, with
        ``severity``, problems less severe than it. A ``problem:KIND`` term of the
        query also limits the listing to that kind (docs/problems.md).
        """
        from .query import AndQuery, ProblemQuery

        order = problems.SEVERITIES
        if severity is not None and severity not in order[:-1]:
            raise UsageError(f"severity takes one of {', '.join(order[:-1])}, not {severity!r}")
        wanted = None
        if kinds:
            wanted = []
            for k in kinds:
                name = problems.kind_name(k)
                if name is None:
                    raise UsageError(f"unknown kind of problem {k!r} (kinds: {', '.join(problems.KINDS)})")
                wanted.append(name)
        text = display_path(query or "").strip()
        q = parse_query(text)
        named = [t.kind for t in (q.terms if isinstance(q, AndQuery) else (q,)) if isinstance(t, ProblemQuery)]
        if named:
            wanted = [k for k in (wanted if wanted is not None else named) if k in named]
        rows = self.store.problems.all(kinds=wanted)
        if text:
            ids, model_ids = self.store.problems.matching(q)
            rows = [r for r in rows if (r.file_id in ids if r.file_id is not None else r.model_id in model_ids)]
        values = self.settings.all()
        severities = {k: values.get(problems.SEVERITY_PREFIX + k, v.severity) for k, v in problems.KINDS.items()}
        found = problems.listed(rows, severities)
        if severity is not None:
            found = [p for p in found if order.index(p.severity) <= order.index(severity)]
        return found

    def open_file(self, file: FileRecord | int | str) -> IO[bytes]:
        """Open a catalogued file's content for reading (archive members too)."""
        rec = file if isinstance(file, FileRecord) else self.file(file)
        if rec.archive_path:
            import zipfile

            from .readers.ziputil import read_member, safe_members

            member = rec.path.split(ARCHIVE_SEP, 1)[1]
            zf = zipfile.ZipFile(rec.archive_path)
            try:
                infos = {i.filename: i for i in safe_members(zf, self.limits)}
                if member not in infos:
                    raise NotFound(f"{member} is no longer in {rec.archive_path}")
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
        return self.store.tags.counts()

    def set_file_notes(self, file_id: int | str, notes: str) -> FileRecord:
        """Replace a file's notes."""
        rec = self.file(file_id)
        self.store.files.set_notes(rec.id, notes)
        changed = self.file(rec.id)
        self._file_event("file_changed", changed)
        return changed

    def update_model(self, model_id: int | str, **fields: Any) -> ModelRecord:
        """Set a model's ``name``, ``creator``, ``source_url``, ``licence``, ``notes``, ``title``,
        ``caption`` or ``description``."""
        unknown = set(fields) - MODEL_FIELDS
        if unknown:
            raise UsageError(
                f"cannot set {', '.join(sorted(unknown))} on a model (allowed: {', '.join(sorted(MODEL_FIELDS))})"
            )
        rec = self.model(model_id)
        self.store.models.update(rec.id, fields)
        if "licence" in fields:
            problems_refresh.refresh_models(self.store, silence=problems.silenced(self.settings.all()))
        return self.model(rec.id)

    # -- collections -----------------------------------------------------------

    def collections(self) -> list[dict[str, Any]]:
        """Every collection with its description and model ids (as dicts; see :meth:`collection_records`)."""
        return [c.as_json() for c in self.store.collections.all()]

    def collection_records(self) -> list[CollectionRecord]:
        """Every collection as a record (id, name, description, model ids), by name."""
        return self.store.collections.all()

    def collection(self, name: str) -> CollectionRecord:
        """One collection by its exact name; NotFound if there is none."""
        cid = self._collection_id(name)
        for rec in self.store.collections.all():
            if rec.id == cid:
                return rec
        raise NotFound(f"no collection {name!r}")

    def create_collection(self, name: str, description: str = "") -> int:
        """Create a collection (or return the existing one's id)."""
        if not name.strip():
            raise UsageError("a collection needs a name")
        return self.store.collections.create(name, description)

    def add_to_collection(self, name: str, *model_ids: int | str) -> None:
        """Add models to a collection, creating it if needed."""
        cid = self.create_collection(name)
        ids = [self.model(m).id for m in model_ids]
        self.store.collections.add(cid, ids)

    def remove_from_collection(self, name: str, *model_ids: int | str) -> None:
        """Remove models from a collection."""
        cid = self._collection_id(name)
        ids = [self.model(m).id for m in model_ids]
        self.store.collections.remove(cid, ids)

    def delete_collection(self, name: str) -> None:
        """Delete a collection (its models stay)."""
        self.store.collections.delete(self._collection_id(name))

    # -- the print log and sliced ↔ source links (docs/printing.md) ---------------

    def log_print(self, target: int | str, *, model: bool = False, printer: str | None = None,
                  result: str = "ok", note: str = "", printed_at: "str | datetime | None" = None,
                  duration_s: float | None = None, source: str = "manual", external_id: str | None = None,
                  job_name: str | None = None) -> "PrintRecord | None":
        """Log one print of the file (and its model) ``target`` names, or of a model (``model=True``).

        :param result: ``ok``, ``failed`` or ``cancelled``; only ``ok`` counts for ``is:printed``.
        :param printed_at: when (default now; a naive time is UTC).
        :param source: ``manual``, or ``<kind>:<printer>`` for a printer's job history.
        :param external_id: the printer's job id: a job already logged from ``source`` is not
            logged twice (None is returned).
        """
        from .printing.log import log_print

        return log_print(self, target, model=model, printer=printer, result=result, note=note,
                         printed_at=printed_at, duration_s=duration_s, source=source,
                         external_id=external_id, job_name=job_name)

    def print_history(self, target: int | str, *, model: bool = False) -> "tuple[ModelRecord, list[PrintRecord]]":
        """The model ``target`` names (a file names its model) and its print log, newest first."""
        from .printing.log import history

        return history(self, target, model=model)

    def delete_print(self, print_id: int) -> "PrintRecord":
        """Delete one print-log entry (overwritten); the entry deleted."""
        from .printing.log import delete_print

        return delete_print(self, print_id)

    def sliced_from(self, file: int | str) -> list[tuple[FileRecord, str]]:
        """The files a G-code file was sliced from, each with how the link was found."""
        return self.store.slice_links.sources_of(self.file(file).id)

    def sliced_gcodes(self, file: int | str) -> list[tuple[FileRecord, str]]:
        """The G-code files sliced from a file, each with how the link was found."""
        return self.store.slice_links.gcodes_of(self.file(file).id)

    def link_sliced(self, gcode: int | str | None = None, source: int | str | None = None) -> int:
        """Link G-code to its sources: one pair by hand, one G-code file, or (no arguments)
        every G-code file not linked yet. How many links were made."""
        from .printing import links

        if gcode is not None and source is not None:
            return int(links.link(self, gcode, source))
        return links.link_sliced(self, None if gcode is None else [self.file(gcode)])

    # -- internals ---------------------------------------------------------

    def _collection_id(self, name: str) -> int:
        cid = self.store.collections.id_of(name)
        if cid is None:
            raise NotFound(f"no collection {name!r}")
        return cid

    def _change_tags(self, kind: Literal["file", "model"], target: int | str, tags: list[str], *, add: bool) -> Any:
        rec = self.file(target) if kind == "file" else self.model(target)
        with self.store.transaction():
            names = self.store.tags.change(kind, rec.id, tags, add=add)
            (self.store.files if kind == "file" else self.store.models).set_tags_text(rec.id, names)
        if kind == "model":
            return self.model(rec.id)
        changed = self.file(rec.id)
        self._file_event("file_changed", changed)  # an edit is a change, from the CLI or the web alike
        return changed

    # -- sidecars (docs/organise.md, "Sidecars") -------------------------------------

    def write_sidecars(self, models: Sequence[int | str] = (), query: str | None = None) -> list[Any]:
        """Write each model's fields into its folder's ``datapackage.json`` (merged into what is
        there, atomically): the models given, and those matching ``query``. Opt-in: nothing else
        writes sidecars. A :class:`~printmanager_core.sidecars.Written` per model."""
        from . import sidecars

        targets = [self.model(m) for m in models]
        if query is not None:
            targets += self.models(query)
        seen: set[int] = set()
        done = []
        for rec in targets:
            if rec.id not in seen:
                seen.add(rec.id)
                done.append(sidecars.write(self, rec))
        return done

    # -- organise on disk (docs/organise.md, "Organise on disk") ---------------------

    def organise_plan(self, query: str = "", *, to: str | os.PathLike[str] | None = None,
                      templates: Sequence[Any] | None = None, collisions: str = "suffix") -> Any:
        """Where the models matching ``query`` would go under ``to`` (or ``organise.root``), by the
        path templates (``organise.paths``); nothing moves. A :class:`~printmanager_core.organise.Plan`."""
        from . import organise

        return organise.plan(self, query, to=to, templates=templates, collisions=collisions)

    @_writing("organise")
    def organise(self, query: str = "", *, to: str | os.PathLike[str] | None = None,
                 templates: Sequence[Any] | None = None, collisions: str = "suffix",
                 progress: Callable[[int, int, str], None] | None = None) -> Any:
        """Move the models matching ``query`` as :meth:`organise_plan` says, journaled (opt-in:
        nothing else ever moves files). Returns ``(plan, report)``.

        :raises printmanager_core.organise.DiskFull: the destination filled up (nothing lost).
        """
        from . import organise

        return organise.organise(self, query, to=to, templates=templates, collisions=collisions, progress=progress)

    @_writing("organise")
    def organise_resume(self, progress: Callable[[int, int, str], None] | None = None) -> Any:
        """Finish an interrupted organise (or undo) batch; its :class:`~printmanager_core.organise.OrganiseReport`."""
        from . import organise

        return organise.resume(self, progress)

    @_writing("organise")
    def organise_undo(self, batch: int | None = None,
                      progress: Callable[[int, int, str], None] | None = None) -> Any:
        """Reverse an organise batch exactly (default: the newest one not undone)."""
        from . import organise

        return organise.undo(self, batch, progress)

    def organise_batches(self) -> list[Any]:
        """Every organise batch (and undo), newest first."""
        return self.store.organise.batches()
