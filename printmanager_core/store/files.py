"""The files gateway: every read and write of the ``files`` table.

Rows come out as :class:`~printmanager_core.records.FileRecord` (joined with
their model's name and tags); what a scan writes goes in as column dicts whose
columns are declared with the record's fields (``records.SCANNED_COLUMNS``).
"""

from __future__ import annotations

import os
import sqlite3
from typing import Any, Iterable, Iterator, NamedTuple, Protocol, Sequence

from ..paths import archive_of, display_path, is_within, path_from_store, stored_path
from ..records import FileRecord
from .plain import PlainDatabase
from .rows import Rows

#: a file row with its model's name and tags, and its sliced ↔ source links (m029),
#: as FileRecord.from_row takes it
FILE_SELECT = (
    "select files.*, models.name as model_name, models.tags as model_tags, "
    "(select group_concat(slice_links.gcode_id, char(31)) from slice_links "
    " where slice_links.source_id = files.id) as gcode_ids, "
    "(select group_concat(sources.name, char(31)) from slice_links join files as sources "
    " on sources.id = slice_links.source_id where slice_links.gcode_id = files.id) as source_names "
    "from files left join models on models.id = files.model_id"
)

#: what a scan compares the walk against (hashes are fetched only when needed)
EXISTING_COLUMNS = ("id", "path", "archive_path", "archive_size", "size_bytes", "mtime_ns", "missing", "path_bytes")


class Known(NamedTuple):
    """A catalogued file as a scan compares it with the walk (:meth:`FilesGateway.existing`)."""

    id: int
    path: str  # exact
    archive_path: str | None  # exact
    archive_size: int | None
    size_bytes: int | None
    mtime_ns: int | None
    missing: int

#: ids per ``in (...)`` list (well below SQLite's parameter limit)
_CHUNK = 500
#: values per statement of a multi-row insert (SQLite's limit is 32,766 since 3.32)
_MAX_PARAMS = 30_000


class Where(Protocol):
    """What selects files: a query term (``printmanager_core.query``) or anything with ``sql()``."""

    def sql(self) -> tuple[str, list[Any]]:
        """A WHERE expression over ``files`` and its parameters."""
        ...


class FilesGateway(Rows):
    """The ``files`` table."""

    def __init__(self, db: PlainDatabase):
        super().__init__(db)
        # Prepared statements per column set: sqlite-utils' insert()/update()
        # rebuild their SQL for every row, which showed up in cold-scan profiles.
        self._sql: dict[tuple[str, tuple[str, ...]], str] = {}

    # -- reading records -------------------------------------------------------

    def select(
        self, where: Where, *, include_missing: bool = False, limit: int | None = None,
        after: tuple[str, int] | None = None, ids_first: bool = False,
    ) -> list[FileRecord]:
        """Files matching ``where``, ordered by path (then id).

        :param after: ``(path display text, id)`` of the last file of the previous
            page: only files after it (keyset paging, see :meth:`iterate`).
        :param ids_first: with ``limit``, select the page's ids first and build only
            their rows: for a ``where`` SQLite reads off a list of matches and sorts
            (asked at once, it builds every match's whole row, the model join and the
            slice-link subqueries, before it sorts and keeps ``limit`` of them).
        """
        sql, params = where.sql()
        sql = f"({sql})"
        if not include_missing:
            sql += " and files.missing = 0"
        if after is not None:
            sql += " and (files.path, files.id) > (?, ?)"
            params = [*params, *after]
        order = " order by files.path, files.id" if after is not None else " order by files.path"
        if limit is None:
            text = f"{FILE_SELECT} where {sql}{order}"
        elif ids_first:
            text = (f"{FILE_SELECT} where files.id in (select files.id from files where {sql}{order} "
                    f"limit {int(limit)}){order}")
        else:
            text = f"{FILE_SELECT} where {sql}{order} limit {int(limit)}"
        return [FileRecord.from_row(r) for r in self.rows(text, params)]

    def first_of(self, ids: Sequence[int], *, limit: int) -> list[FileRecord]:
        """The first ``limit`` of the files ``ids`` in path order (ids already known to
        match: see :meth:`printmanager_core.store.search.SearchGateway.first_page`)."""
        if not ids:
            return []
        marks = ", ".join("?" * len(ids))
        if len(ids) > self.max_params():
            raise ValueError(f"{len(ids)} ids is more than one statement takes")
        text = (f"{FILE_SELECT} where files.id in (select files.id from files where files.id in ({marks}) "
                f"order by files.path limit {int(limit)}) order by files.path")
        return [FileRecord.from_row(r) for r in self.rows(text, list(ids))]

    def iterate(self, where: Where, *, include_missing: bool = False, page: int = 500) -> Iterator[FileRecord]:
        """Files matching ``where`` in path order, fetched ``page`` at a time.

        Each page is one short read, so a long walk over a big catalogue holds no
        read transaction open and sees files written meanwhile past its position.
        """
        after: tuple[str, int] | None = None
        while True:
            batch = self.select(where, include_missing=include_missing, limit=page, after=after or ("", -1))
            yield from batch
            if len(batch) < page:
                return
            last = batch[-1]
            after = (stored_path(last.path)[0], last.id)

    #: what :meth:`page` sorts by: the user's word and the column (each has an index, m018)
    SORTS = {
        "path": "files.path",
        "name": "files.name",
        "date": "files.mtime_ns",
        "added": "files.added_at",
        "size": "files.size_bytes",
        "triangles": "files.triangles",
        "time": "files.print_time_s",
    }

    def page(
        self, where: Where, *, sort: str, descending: bool = False, offset: int = 0, limit: int = 60,
        after: int | None = None, before: int | None = None,
    ) -> list[FileRecord] | None:
        """One page of the present files matching ``where`` in ``sort`` order (unknown
        values last either way, ties by id): from ``offset``, or the page after the
        file ``after`` / before the file ``before`` (keyset: read off the sort's index).

        :returns: None when ``after``/``before`` names no file.
        """
        column = self.SORTS[sort]
        sql, params = where.sql()
        limit = max(0, int(limit))
        base = f"{FILE_SELECT} where ({sql}) and files.missing = 0"
        if after is None and before is None:
            d = "desc" if descending else "asc"
            order = f"{column} {d} nulls last, files.id {d}"
            text = f"{base} order by {order} limit {limit} offset {max(0, int(offset))}"
            return [FileRecord.from_row(r) for r in self.rows(text, params)]
        anchor = int(after if after is not None else before)  # type: ignore[arg-type]
        found = self.db.execute(f"select {column} from files where id = ?", [anchor]).fetchone()
        if found is None:
            return None
        value = found[0]
        forward = before is None
        ascending = (not descending) == forward  # the direction this walk reads the index in
        cmp, d = (">", "asc") if ascending else ("<", "desc")

        def values_from(n: int) -> list[dict[str, Any]]:
            return self.rows(f"{base} and ({column}, files.id) {cmp} (?, ?) order by {column} {d}, files.id {d} "
                             f"limit {n}", [*params, value, anchor])

        def nulls_from(n: int) -> list[dict[str, Any]]:
            return self.rows(f"{base} and {column} is null and files.id {cmp} ? order by files.id {d} limit {n}",
                             [*params, anchor])

        def all_nulls(n: int) -> list[dict[str, Any]]:
            return self.rows(f"{base} and {column} is null order by files.id {d} limit {n}", params)

        def all_values(n: int) -> list[dict[str, Any]]:
            return self.rows(f"{base} and {column} is not null order by {column} {d}, files.id {d} limit {n}", params)

        if forward:  # known values, then the unknown ones
            rows = values_from(limit) if value is not None else nulls_from(limit)
            if value is not None and len(rows) < limit:
                rows += all_nulls(limit - len(rows))
        else:  # walking back from the end: the unknown ones, then known values
            rows = nulls_from(limit) if value is None else values_from(limit)
            if value is None and len(rows) < limit:
                rows += all_values(limit - len(rows))
            rows.reverse()
        return [FileRecord.from_row(r) for r in rows]

    def count(self, where: Where) -> int:
        """How many present files match ``where``."""
        sql, params = where.sql()
        return int(self.db.execute(f"select count(*) from files where ({sql}) and files.missing = 0",
                                   list(params)).fetchone()[0])

    def by_id(self, file_id: int) -> FileRecord | None:
        """The file with this id, if any."""
        row = self.one(f"{FILE_SELECT} where files.id = ?", [file_id])
        return None if row is None else FileRecord.from_row(row)

    def with_thumbnail(self, ids: Sequence[int]) -> list[FileRecord]:
        """Those of ``ids`` that have a recorded thumbnail (missing ones included), a few queries in all."""
        out: list[FileRecord] = []
        ids = list(ids)
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            out += [FileRecord.from_row(r) for r in self.rows(
                f"{FILE_SELECT} where files.id in ({', '.join('?' * len(chunk))}) and files.thumbnail_path is not null",
                chunk)]  # fmt: skip
        return out

    def by_path(self, candidates: Sequence[str]) -> FileRecord | None:
        """The file whose exact path is a candidate, else the one whose display text is.

        :raises UsageError: two names show as the same display text.
        """
        row = self.by_exact_path(FILE_SELECT, "files", candidates)
        return None if row is None else FileRecord.from_row(row)

    def of_model(self, model_id: int, *, include_missing: bool = False) -> list[FileRecord]:
        """The files of one model, in path order."""
        missing = "" if include_missing else " and files.missing = 0"
        sql = f"{FILE_SELECT} where files.model_id = ?{missing} order by files.path"
        return [FileRecord.from_row(r) for r in self.rows(sql, [model_id])]

    def duplicates(self) -> list[FileRecord]:
        """Present files whose content hash another present file shares, by hash then path."""
        sql = (
            f"{FILE_SELECT} where files.missing = 0 and files.hash in "
            "(select hash from files where missing = 0 and hash is not null group by hash having count(*) > 1) "
            "order by files.hash, files.path"
        )
        return [FileRecord.from_row(r) for r in self.rows(sql, [])]

    def hashes_in_use(self, among: Sequence[str] | None = None) -> set[str]:
        """Every content hash a catalogued file has (only those of ``among``, when given)."""
        if among is None:
            return {r[0] for r in self.db.execute("select distinct hash from files where hash is not null")}
        found: set[str] = set()
        for i in range(0, len(among), 500):
            chunk = list(among[i : i + 500])
            found.update(r[0] for r in self.db.execute(
                f"select distinct hash from files where hash in ({','.join('?' * len(chunk))})", chunk))
        return found

    # -- user edits ------------------------------------------------------------

    def set_notes(self, file_id: int, notes: str) -> None:
        """Replace a file's notes."""
        with self.db.conn:
            self.db.execute("update files set notes = ? where id = ?", [notes, file_id])

    def set_tags_text(self, file_id: int, names: Iterable[str]) -> None:
        """The denormalised, space-separated tag list (for search); in the caller's transaction."""
        self.db.execute("update files set tags = ? where id = ?", [" ".join(names), file_id])

    # -- what a scan reads and writes ------------------------------------------------

    def existing(self, root_id: int, root: str, folder: str) -> list[Known]:
        """What a scan compares its walk against: the root's files, or those under
        ``folder``, as :class:`Known` tuples. Paths are exact.

        One query, straight into tuples (a warm rescan of an unchanged library is this
        and the walk; a dict a row showed up in its profile)."""
        sql = f"select {', '.join(EXISTING_COLUMNS)} from files where root_id = ?"
        params: list[Any] = [root_id]
        if folder != root:
            # display text is per character, so a display prefix holds every exact one
            prefix = display_path(folder).rstrip(os.sep) + os.sep
            sql += " and path >= ? and path < ?"
            params += [prefix, prefix[:-1] + chr(ord(os.sep) + 1)]
        make = Known._make
        rows = []
        for r in self.db.execute(sql, params).fetchall():
            exact = r[-1]
            if exact is None:
                rows.append(make(r[:-1]))
                continue
            text = r[1]
            path = path_from_store(text, exact)
            archive = archive_of(path, text, r[2]) if r[2] else r[2]
            rows.append(Known(r[0], path, archive, *r[3:-1]))
        if folder != root:
            rows = [r for r in rows if is_within(r.path, folder)]
        return rows

    def hashes(self, ids: list[int]) -> dict[int, str]:
        """The content hash of each of ``ids`` (ids without one are left out)."""
        out: dict[int, str] = {}
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            out.update(self.db.execute(
                f"select id, hash from files where id in ({', '.join('?' * len(chunk))})", chunk
            ).fetchall())
        return out

    def insert(self, row: dict[str, Any]) -> int:
        """Add a file row (column → value); returns its id. In the caller's transaction."""
        cols = tuple(row)
        sql = self._sql.get(("insert", cols))
        if sql is None:
            sql = self._sql[("insert", cols)] = (
                f"insert into files ({', '.join(cols)}) values ({', '.join('?' * len(cols))})"
            )
        cur = self.db.execute(sql, list(row.values()))
        return int(cur.lastrowid or 0)

    def next_id(self) -> int:
        """The id SQLite would give the next file row (one more than the largest). In the
        caller's write transaction, so that no one else takes it meanwhile."""
        return int(self.db.execute("select coalesce(max(id), 0) + 1 from files").fetchone()[0])

    def insert_many(self, rows: list[dict[str, Any]]) -> None:
        """Add file rows (column → value, each with its ``id``) in a few statements. In the
        caller's transaction.

        Many rows go in one ``insert ... values (...), (...)`` statement, not one statement
        a row: the FTS index's insert trigger then flushes once a statement instead of once a
        row (an FTS5 table writes its pending terms at every statement's savepoint), which
        made a row cost ~150 us instead of ~25 us (measured, 10,000 rows, 12 indexes).
        """
        by_cols: dict[tuple[str, ...], list[Any]] = {}
        for row in rows:
            by_cols.setdefault(tuple(row), []).append(row)
        for cols, group in by_cols.items():
            one = f"({', '.join('?' * len(cols))})"
            per = max(1, self.max_params() // len(cols))
            head = f"insert into files ({', '.join(cols)}) values "
            for i in range(0, len(group), per):
                chunk = group[i : i + per]
                key = ("insert_many", cols, len(chunk))
                sql = self._sql.get(key)
                if sql is None:
                    sql = head + ", ".join([one] * len(chunk))
                    if len(chunk) == per:
                        self._sql[key] = sql  # full chunks repeat; keep only their text
                self.db.execute(sql, [v for row in chunk for v in row.values()])

    _params: int | None = None

    def max_params(self) -> int:
        """How many ``?`` one statement may have here (SQLite's compile-time limit)."""
        if self._params is None:
            getlimit = getattr(self.db.conn, "getlimit", None)  # Python 3.11+
            limit = getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) if getlimit is not None else 999
            self._params = min(_MAX_PARAMS, int(limit))
        return self._params

    def update(self, file_id: int, row: dict[str, Any]) -> None:
        """Set columns of one file row. In the caller's transaction."""
        cols = tuple(row)
        sql = self._sql.get(("update", cols))
        if sql is None:
            sql = self._sql[("update", cols)] = f"update files set {', '.join(f'{c} = ?' for c in cols)} where id = ?"
        self.db.execute(sql, [*row.values(), file_id])

    def current_values(self, ids: Sequence[int], columns: Sequence[str]) -> dict[int, tuple[Any, ...]]:
        """The stored values of ``columns`` of each of files ``ids`` (id → values in that
        order; ids not in the table are left out), a few queries in all. For
        :meth:`update_changed`, in the same write transaction."""
        out: dict[int, tuple[Any, ...]] = {}
        select = f"select id, {', '.join(columns)} from files where id in "
        for i in range(0, len(ids), _CHUNK):
            chunk = list(ids[i : i + _CHUNK])
            for r in self.db.execute(f"{select}({', '.join('?' * len(chunk))})", chunk).fetchall():
                out[r[0]] = r[1:]
        return out

    def update_changed(self, file_id: int, row: dict[str, Any], stored: dict[str, Any]) -> None:
        """Set the columns of ``row`` whose value differs from ``stored`` (the row as it is in
        the table, read in the caller's transaction: :meth:`current_values`); nothing when
        none does. In the caller's transaction.

        SQLite rewrites the index entries of every column a ``set`` names, changed or not
        (a scan's ~30 columns, a dozen indexes: ~100 us a row, against ~20 us for the
        three a touched file usually changes). A value counts as the same only when it is
        of the same type and equal, so what is stored ends up as :meth:`update` would leave it.
        """
        changed = {c: v for c, v in row.items()
                   if c not in stored or type(v) is not type(stored[c]) or v != stored[c]}  # fmt: skip
        if changed:
            self.update(file_id, changed)

    def any_missing(self) -> bool:
        """Whether any file of the library is marked missing."""
        return self.db.execute("select exists (select 1 from files where missing = 1)").fetchone()[0] == 1

    def missing_with_hash(self, content_hash: str) -> int | None:
        """The oldest missing file anywhere in the library with this content, if any."""
        row = self.db.execute(
            "select id from files where hash = ? and missing = 1 order by id limit 1", [content_hash]
        ).fetchone()
        return int(row[0]) if row else None

    def mark_missing(self, file_id: int) -> None:
        """Mark a file missing (no longer on disk). In the caller's transaction."""
        self.db.execute("update files set missing = 1 where id = ?", [file_id])

    # -- roots moving --------------------------------------------------------------

    def move_root(self, from_root: int, to_root: int) -> None:
        """Give every file of root ``from_root`` to root ``to_root``. In the caller's transaction."""
        self.db.execute("update files set root_id = ? where root_id = ?", [to_root, from_root])

    def placement(self, root_id: int) -> list[tuple[int, str, str | None, int | None]]:
        """(id, exact path, exact archive path or None, model id) of every file of a root."""
        out = []
        for file_id, text, exact, archive_text, model_id in self.db.execute(
            "select id, path, path_bytes, archive_path, model_id from files where root_id = ?", [root_id]
        ).fetchall():
            path = path_from_store(text, exact)
            archive = archive_of(path, text, archive_text) if archive_text else None
            out.append((file_id, path, archive, model_id))
        return out

    def set_model(self, file_id: int, model_id: int) -> None:
        """Move a file to another model. In the caller's transaction."""
        self.db.execute("update files set model_id = ? where id = ?", [model_id, file_id])


def exact_key(path: str) -> str | bytes:
    """The exact value of a path in the store: ``coalesce(path_bytes, path)``."""
    text, exact = stored_path(path)
    return text if exact is None else exact
