"""The problems gateway: every read and write of the ``problems`` table (migration m026).

A problem row is about a file (``file_id``), a model (``model_id`` only) or a
folder (neither); :mod:`printmanager_core.problems` decides what is a problem,
this module only keeps the rows and the facts they are computed from. Each
file's ``problem_kinds`` column repeats the kinds of its own problems and its
model's, without the silenced ones, so the query language finds them.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import attrs

from .plain import PlainDatabase
from .query_sql import ABSENT_IDS
from .rows import Rows

#: ids per ``in (...)`` list (well below SQLite's parameter limit)
_CHUNK = 500


@attrs.frozen
class ProblemRow:
    """One stored problem (see :class:`printmanager_core.problems.Problem` for the domain record)."""

    kind: str
    path: str
    detail: str = ""
    file_id: int | None = None
    model_id: int | None = None
    root_id: int | None = None
    other_id: int | None = None
    id: int | None = None
    found_at: str | None = None


#: the columns of a file that its own problems are computed from
FILE_FACTS = (
    "files.id, files.model_id, files.root_id, files.path, files.name, files.format, files.size_bytes, "
    "files.error, files.triangles, files.watertight, files.inverted, files.degenerate_triangles, "
    "files.problems, files.meta, files.thumbnails"
)


#: what a file's problems with other files and its model's are worked out from: the
#: columns a ``problem_log`` row keeps of a file as it was before a change (m038; the
#: table is made with them, so a change here needs a migration)
PROBLEM_LOG_FILE_COLUMNS = (
    "root_id", "model_id", "path", "name", "format", "size_bytes", "hash", "geometry_hash", "triangles",
    "bbox_x", "bbox_y", "bbox_z", "area_mm2", "thumbnails", "meta", "missing",
)

#: the same, for a select list
_LOG_COLUMNS = ", ".join(f'"{c}"' for c in PROBLEM_LOG_FILE_COLUMNS)

#: the groups of files :meth:`ProblemsGateway.group_firsts` knows (a column each)
_GROUP_COLUMNS = {"hash": "hash", "geometry_hash": "geometry_hash"}


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


class ProblemsGateway(Rows):
    """The ``problems`` table and ``files.problem_kinds``."""

    def __init__(self, db: PlainDatabase):
        super().__init__(db)

    # -- facts the problems are computed from ------------------------------------

    def file_facts(self, ids: Sequence[int] | None) -> list[dict[str, Any]]:
        """The facts of present files (``ids``, or every file when None), as rows; with
        ``ids``, also of every file never checked yet (``problem_kinds`` NULL)."""
        base = f"select {FILE_FACTS} from files where files.missing = 0"
        if ids is None:
            return self.rows(base, [])
        out = self.rows(f"{base} and files.problem_kinds is null", [])
        seen = {r["id"] for r in out}
        ids = [i for i in ids if i not in seen]
        for chunk in _chunks(list(ids)):
            out += self.rows(f"{base} and files.id in ({','.join('?' * len(chunk))})", chunk)
        return out

    def same_content(self) -> list[dict[str, Any]]:
        """Present, non-empty files that share their content hash with another: ``id, path, hash``."""
        return self.rows(
            "select id, path, hash as key, format from files where missing = 0 and coalesce(size_bytes, 0) > 0 "
            "and hash in (select hash from files where missing = 0 and coalesce(size_bytes, 0) > 0 "
            "and hash is not null group by hash having count(*) > 1) order by hash, path, id",
            [],
        )

    def same_geometry(self) -> list[dict[str, Any]]:
        """Present files that share their geometry fingerprint with another: ``id, path, key, hash, format``."""
        return self.rows(
            "select id, path, geometry_hash as key, hash, format, meta from files where missing = 0 "
            "and geometry_hash in (select geometry_hash from files where missing = 0 and geometry_hash is not null "
            "group by geometry_hash having count(*) > 1) order by geometry_hash, path, id",
            [],
        )

    def mesh_measures(self, triangles: Sequence[int] | None = None) -> list[dict[str, Any]]:
        """Present meshes with triangles (only those with a count in ``triangles``, when
        given): ``id, path, triangles, bbox_x/y/z, area_mm2, geometry_hash``."""
        where, params = "", list(triangles or ())
        if triangles is not None:
            if not triangles:
                return []
            where = f" and triangles in ({','.join('?' * len(params))})"
        return self.rows(
            "select id, path, triangles, bbox_x, bbox_y, bbox_z, area_mm2, geometry_hash from files "
            f"where missing = 0 and coalesce(triangles, 0) > 0 and bbox_x is not null{where} "
            "order by triangles, path, id",
            params,
        )

    def sliced_files(self, formats: Sequence[str]) -> list[dict[str, Any]]:
        """Present files of the sliced ``formats``: ``id, model_id, root_id, path, name``."""
        marks = ",".join("?" * len(formats))
        return self.rows(
            f"select id, model_id, root_id, path, name from files where missing = 0 and format in ({marks}) "
            "order by path, id",
            list(formats),
        )

    def mesh_names(self, formats: Sequence[str]) -> list[dict[str, Any]]:
        """Present files of the mesh ``formats``: ``id, model_id, name``."""
        marks = ",".join("?" * len(formats))
        return self.rows(
            f"select id, model_id, name from files where missing = 0 and format in ({marks})", list(formats)
        )

    def model_facts(self, image_formats: Sequence[str], ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
        """Present models with present files (only models ``ids``, when given): ``id, root_id,
        path, name, licence, pictures`` (``pictures``: image files plus files with an
        embedded thumbnail)."""
        marks = ",".join("?" * len(image_formats))
        sql = ("select models.id, models.root_id, models.path, models.name, models.licence, "
               f"(select count(*) from files where files.model_id = models.id and files.missing = 0 "
               f" and (files.format in ({marks}) or coalesce(files.thumbnails, 0) > 0)) as pictures "
               "from models where models.missing = 0 and exists "
               "(select 1 from files where files.model_id = models.id and files.missing = 0)")
        if ids is None:
            return self.rows(f"{sql} order by models.path", list(image_formats))
        out: list[dict[str, Any]] = []
        for chunk in _chunks(sorted(ids)):
            out += self.rows(f"{sql} and models.id in ({','.join('?' * len(chunk))})", [*image_formats, *chunk])
        return out

    def matching(self, where: Any) -> tuple[set[int], set[int]]:
        """The ids of the present files matching ``where`` (a query term), and of their models."""
        sql, params = where.sql()
        rows = self.db.execute(f"select files.id, files.model_id from files where ({sql}) and files.missing = 0",
                               list(params)).fetchall()
        return {r[0] for r in rows}, {r[1] for r in rows if r[1] is not None}

    # -- the rows ------------------------------------------------------------------

    def replace_for_files(self, ids: Sequence[int], kinds: Sequence[str], rows: Sequence[ProblemRow], at: str) -> None:
        """Replace the problems of ``kinds`` of files ``ids`` by ``rows`` (in the caller's transaction)."""
        kind_marks = ",".join("?" * len(kinds))
        for chunk in _chunks(list(ids)):
            self.db.execute(
                f"delete from problems where +kind in ({kind_marks}) and file_id in ({','.join('?' * len(chunk))})",
                [*kinds, *chunk],
            )
        self._insert(rows, at)

    def replace_kinds(self, kinds: Sequence[str], rows: Sequence[ProblemRow], at: str, *,
                      under: str | None = None) -> tuple[set[int], set[int]]:
        """Replace every problem of ``kinds`` (only those whose path is ``under`` a folder, when given) by ``rows``.

        Rows that are already there (same kind, path, file, model, other and detail)
        keep their id and ``found_at``.

        :returns: the files and the models (of rows with no file) whose rows were added or removed.
        """
        kind_marks = ",".join("?" * len(kinds))
        where = f"kind in ({kind_marks})"
        params: list[Any] = list(kinds)
        if under is not None:
            where += " and (path = ? or substr(path, 1, length(?) + 1) = ? || '/')"
            params += [under, under, under]
        old = {tuple(r[1:]): r[0] for r in self.db.execute(
            f"select id, kind, path, file_id, model_id, other_id, detail from problems where {where}", params)}
        return self._replace(old, rows, at)

    def replace_about(self, kinds: Sequence[str], rows: Sequence[ProblemRow], at: str, *,
                      file_ids: Iterable[int] = (), model_ids: Iterable[int] = ()) -> tuple[set[int], set[int]]:
        """Replace the problems of ``kinds`` about files ``file_ids`` and (with no file) about
        models ``model_ids`` by ``rows``; rows already there keep their id and ``found_at``.

        :returns: the files and the models (of rows with no file) whose rows were added or removed.
        """
        kind_marks = ",".join("?" * len(kinds))
        # read off the file and model indexes ("+kind", "+file_id": not the kind index,
        # which SQLite picks without statistics and which holds every row of a kind)
        old: dict[tuple[Any, ...], int] = {}
        for column, ids in (("file_id", sorted(set(file_ids))), ("model_id", sorted(set(model_ids)))):
            extra = "" if column == "file_id" else " and +file_id is null"
            for chunk in _chunks(ids):
                for r in self.db.execute(
                        f"select id, kind, path, file_id, model_id, other_id, detail from problems where +kind in "
                        f"({kind_marks}){extra} and {column} in ({','.join('?' * len(chunk))})",
                        [*kinds, *chunk]).fetchall():
                    old[tuple(r[1:])] = r[0]
        return self._replace(old, rows, at)

    def _replace(self, old: dict[tuple[Any, ...], int], rows: Sequence[ProblemRow],
                 at: str) -> tuple[set[int], set[int]]:
        """Make the ``old`` rows (key → id) ``rows``: delete the ones not in ``rows``, insert the new."""
        touched_files: set[int] = set()
        touched_models: set[int] = set()

        def touch(file_id: int | None, model_id: int | None) -> None:
            if file_id is not None:
                touched_files.add(file_id)
            elif model_id is not None:
                touched_models.add(model_id)

        new = []
        for r in rows:
            if old.pop((r.kind, r.path, r.file_id, r.model_id, r.other_id, r.detail), None) is None:
                new.append(r)
                touch(r.file_id, r.model_id)
        for key in old:
            touch(key[2], key[3])
        for chunk in _chunks(list(old.values())):
            self.db.execute(f"delete from problems where id in ({','.join('?' * len(chunk))})", list(chunk))
        self._insert(new, at)
        return touched_files, touched_models

    def forget_files(self, ids: Sequence[int]) -> None:
        """Delete every problem about files ``ids`` (files gone missing)."""
        for chunk in _chunks(list(ids)):
            self.db.execute(f"delete from problems where file_id in ({','.join('?' * len(chunk))})", list(chunk))

    def forget_missing(self) -> None:
        """Delete the problems of files and models no longer on disk."""
        self.db.execute(f"delete from problems where file_id in ({ABSENT_IDS})")  # off m035's short index
        self.db.execute("delete from problems where file_id is null and model_id in "
                        "(select id from models where missing != 0)")

    def _insert(self, rows: Sequence[ProblemRow], at: str) -> None:
        if not rows:
            return
        self.db.conn.executemany(
            "insert into problems (kind, file_id, model_id, root_id, path, detail, other_id, found_at) "
            "values (?, ?, ?, ?, ?, ?, ?, ?)",
            [(r.kind, r.file_id, r.model_id, r.root_id, r.path, r.detail, r.other_id, at) for r in rows],
        )

    def all(self, *, kinds: Sequence[str] | None = None) -> list[ProblemRow]:
        """Every stored problem (of ``kinds`` when given), by path, kind, id."""
        where, params = "", []
        if kinds is not None:
            if not kinds:
                return []
            where, params = f" where kind in ({','.join('?' * len(kinds))})", list(kinds)
        rows = self.rows(f"select * from problems{where} order by path, kind, id", params)
        return [ProblemRow(**{k: r[k] for k in (
            "kind", "path", "detail", "file_id", "model_id", "root_id", "other_id", "id", "found_at")}) for r in rows]

    def counts(self) -> dict[str, int]:
        """How many problems of each kind are stored."""
        return {k: n for k, n in self.db.execute("select kind, count(*) from problems group by kind").fetchall()}

    # -- whether a refresh has anything new to see (m031) ----------------------------

    def changes(self) -> int:
        """How many changes to files and models that problems are worked out from were counted so far."""
        row = self.db.execute("select catalogue from catalogue_changes where id = 1").fetchone()
        return int(row[0]) if row else 0

    def current(self) -> bool:
        """Whether nothing problems are worked out from changed since the last complete refresh,
        and no problem row was written since (``catalogue_changes``, m031: counted by triggers)."""
        row = self.db.execute(
            "select catalogue = refreshed_catalogue and problems = refreshed_problems from catalogue_changes "
            "where id = 1").fetchone()
        return bool(row and row[0])

    def rows_as_refreshed(self) -> bool:
        """Whether no problem row was written since the last complete refresh (m031's count)."""
        row = self.db.execute("select problems = refreshed_problems from catalogue_changes where id = 1").fetchone()
        return bool(row and row[0])

    def note_rows_refreshed(self) -> None:
        """Count the problem rows as they are now as a refresh's (rows worked out from the
        catalogue as it is, in the caller's transaction)."""
        self.db.execute("update catalogue_changes set refreshed_problems = problems where id = 1")

    def mark_current(self, seen: int) -> None:
        """Note that the problems are worked out from the catalogue as it was at ``seen``
        changes (:meth:`changes`, read before the refresh began), and the problem rows as
        they are now (in the refresh's last transaction)."""
        self.db.execute("update catalogue_changes set refreshed_catalogue = ?, refreshed_problems = problems "
                        "where id = 1", [seen])

    # -- what changed since the last refresh (m038) -------------------------------------

    def log_state(self) -> tuple[bool, int, int]:
        """Whether ``problem_log`` can be trusted (m038), its last ``seq`` (0 when empty) and
        how many files it names."""
        trusted = self.db.execute("select log_trusted from catalogue_changes where id = 1").fetchone()
        last, files = self.db.execute(
            "select coalesce(max(seq), 0), count(distinct file_id) from problem_log").fetchone()
        return bool(trusted and trusted[0]), int(last), int(files)

    def logged_files(self, upto: int) -> dict[int, dict[str, Any] | None]:
        """Each file the log names up to ``upto``, as it was before its first logged change
        (the columns of ``PROBLEM_LOG_FILE_COLUMNS``), or None if it was inserted since."""
        rows = self.rows(
            f"select file_id, inserted, {_LOG_COLUMNS} from problem_log l where seq <= ? and file_id is not null "
            "and not exists (select 1 from problem_log e where e.file_id = l.file_id and e.seq < l.seq)", [upto])
        return {r.pop("file_id"): (None if r.pop("inserted") else r) for r in rows}

    def logged_models(self, upto: int) -> set[int]:
        """The models the log names up to ``upto`` (inserted, deleted or changed)."""
        return {r[0] for r in self.db.execute(
            "select distinct model_id from problem_log where seq <= ? and file_id is null and model_id is not null",
            [upto]).fetchall()}

    def logged_model_ids(self, upto: int) -> set[int]:
        """Every model the log up to ``upto`` touches: the models it names, and the models
        its files were in before and are in now."""
        return {r[0] for r in self.db.execute(
            "select model_id from problem_log where seq <= ? and model_id is not null union "
            "select files.model_id from files where files.model_id is not null and files.id in "
            "(select file_id from problem_log where seq <= ? and file_id is not null)", [upto, upto]).fetchall()}

    def end_log(self, upto: int) -> None:
        """Forget the log up to ``upto`` (worked out) and trust what is left (in the refresh's
        last transaction)."""
        self.db.execute("delete from problem_log where seq <= ?", [upto])
        self.db.execute("update catalogue_changes set log_trusted = 1 where id = 1")

    def files_now(self, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """Files ``ids`` as they are (``id`` and the columns of ``PROBLEM_LOG_FILE_COLUMNS``);
        files no longer in the table are left out."""
        out: dict[int, dict[str, Any]] = {}
        for chunk in _chunks(sorted(set(ids))):
            for r in self.rows(f"select id, {_LOG_COLUMNS} from files where id in ({','.join('?' * len(chunk))})",
                               chunk):
                out[r["id"]] = r
        return out

    def group_firsts(self, by: str, keys: Iterable[str], *, skip_logged: int | None = None) -> dict[str, dict[str, Any]]:
        """The first file (by path, then id) of each group of files sharing ``by`` (``hash``:
        present non-empty files; ``geometry_hash``: present files) whose value is one of ``keys``:
        key → ``id, path, hash, format, meta``. Each is read off the group's index (m038),
        without reading the rest of the group.

        :param skip_logged: a log ``seq``: leave out the files the log names up to it.
        """
        column = _GROUP_COLUMNS[by]
        cond = "missing = 0 and coalesce(size_bytes, 0) > 0" if by == "hash" else "missing = 0"
        skip, extra = "", []
        if skip_logged is not None:
            skip = " and id not in (select file_id from problem_log where seq <= ? and file_id is not null)"
            extra = [skip_logged]
        out: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(sorted(set(keys))):
            wanted = ", ".join(["(?)"] * len(chunk))
            for r in self.rows(
                    f"with wanted(key) as (values {wanted}) select wanted.key, f.id, f.path, f.hash, f.format, "
                    f"f.meta from wanted join files f on f.id = (select id from files where {column} = wanted.key "
                    f"and {cond}{skip} order by path, id limit 1)", [*chunk, *extra]):
                out[r.pop("key")] = r
        return out

    def group_members(self, by: str, keys: Sequence[str], *, hashes: Sequence[str] | None = None) -> list[int]:
        """The ids of the files of the groups of ``by`` whose value is one of ``keys`` (as
        :meth:`group_firsts`), only those whose hash is one of ``hashes`` when given."""
        column = _GROUP_COLUMNS[by]
        cond = "missing = 0 and coalesce(size_bytes, 0) > 0" if by == "hash" else "missing = 0"
        extra, params = "", []
        if hashes is not None:
            if not hashes:
                return []
            extra, params = f" and hash in ({','.join('?' * len(hashes))})", list(hashes)
        out: list[int] = []
        for chunk in _chunks(sorted(set(keys))):
            out += [r[0] for r in self.db.execute(
                f"select id from files where {cond} and {column} in ({','.join('?' * len(chunk))}){extra}",
                [*chunk, *params]).fetchall()]
        return out

    def duplicate_facts(self, ids: Iterable[int]) -> list[dict[str, Any]]:
        """Present files ``ids``: ``id, path, hash, geometry_hash, format, meta, size_bytes``."""
        out: list[dict[str, Any]] = []
        for chunk in _chunks(sorted(set(ids))):
            out += self.rows("select id, path, hash, geometry_hash, format, meta, size_bytes from files "
                             f"where missing = 0 and id in ({','.join('?' * len(chunk))})", chunk)
        return out

    # -- files.problem_kinds ---------------------------------------------------------

    def sync_kinds(self, silenced: Sequence[str], *, file_ids: Iterable[int] | None = None,
                   model_ids: Iterable[int] = ()) -> int:
        """Set each file's ``problem_kinds`` to the kinds of its problems and its model's,
        leaving out ``silenced`` ones; only rows whose value changes are written.

        With ``file_ids``, only those files, the files of ``model_ids`` and the files never
        checked (``problem_kinds`` NULL) are looked at.

        :returns: how many files changed.
        """
        marks = ",".join("?" * len(silenced)) or "''"
        kinds = (
            "(select coalesce(group_concat(kind, ' '), '') from (select distinct kind from problems "
            "where (problems.file_id = files.id or (problems.file_id is null and problems.model_id = files.model_id)) "
            f"and kind not in ({marks}) order by kind))"
        )
        update = f"update files set problem_kinds = {kinds} where "
        if file_ids is None:
            return self.db.execute(f"{update}problem_kinds is null or problem_kinds != {kinds}",
                                   [*silenced, *silenced]).rowcount
        changed = self.db.execute(f"{update}problem_kinds is null", list(silenced)).rowcount
        for column, ids in (("id", sorted(set(file_ids))), ("model_id", sorted(set(model_ids)))):
            for chunk in _chunks(ids):
                changed += self.db.execute(
                    f"{update}{column} in ({','.join('?' * len(chunk))}) and problem_kinds != {kinds}",
                    [*silenced, *chunk, *silenced]).rowcount
        return changed
