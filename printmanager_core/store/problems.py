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

    def mesh_measures(self) -> list[dict[str, Any]]:
        """Present meshes with triangles: ``id, path, triangles, bbox_x/y/z, area_mm2, geometry_hash``."""
        return self.rows(
            "select id, path, triangles, bbox_x, bbox_y, bbox_z, area_mm2, geometry_hash from files "
            "where missing = 0 and coalesce(triangles, 0) > 0 and bbox_x is not null order by triangles, path, id",
            [],
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

    def model_facts(self, image_formats: Sequence[str]) -> list[dict[str, Any]]:
        """Present models with present files: ``id, root_id, path, name, licence, pictures``
        (``pictures``: image files plus files with an embedded thumbnail)."""
        marks = ",".join("?" * len(image_formats))
        return self.rows(
            "select models.id, models.root_id, models.path, models.name, models.licence, "
            f"(select count(*) from files where files.model_id = models.id and files.missing = 0 "
            f" and (files.format in ({marks}) or coalesce(files.thumbnails, 0) > 0)) as pictures "
            "from models where models.missing = 0 and exists "
            "(select 1 from files where files.model_id = models.id and files.missing = 0) order by models.path",
            list(image_formats),
        )

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
                f"delete from problems where kind in ({kind_marks}) and file_id in ({','.join('?' * len(chunk))})",
                [*kinds, *chunk],
            )
        self._insert(rows, at)

    def replace_kinds(self, kinds: Sequence[str], rows: Sequence[ProblemRow], at: str, *,
                      under: str | None = None) -> None:
        """Replace every problem of ``kinds`` (only those whose path is ``under`` a folder, when given) by ``rows``.

        Rows that are already there (same kind, path, file, model, other and detail)
        keep their id and ``found_at``.
        """
        kind_marks = ",".join("?" * len(kinds))
        where = f"kind in ({kind_marks})"
        params: list[Any] = list(kinds)
        if under is not None:
            where += " and (path = ? or substr(path, 1, length(?) + 1) = ? || '/')"
            params += [under, under, under]
        old = {
            (r["kind"], r["path"], r["file_id"], r["model_id"], r["other_id"], r["detail"]): r["id"]
            for r in self.rows(f"select id, kind, path, file_id, model_id, other_id, detail from problems "
                               f"where {where}", params)
        }
        new = []
        for r in rows:
            key = (r.kind, r.path, r.file_id, r.model_id, r.other_id, r.detail)
            if old.pop(key, None) is None:
                new.append(r)
        stale = list(old.values())
        for chunk in _chunks(stale):
            self.db.execute(f"delete from problems where id in ({','.join('?' * len(chunk))})", list(chunk))
        self._insert(new, at)

    def forget_files(self, ids: Sequence[int]) -> None:
        """Delete every problem about files ``ids`` (files gone missing)."""
        for chunk in _chunks(list(ids)):
            self.db.execute(f"delete from problems where file_id in ({','.join('?' * len(chunk))})", list(chunk))

    def forget_missing(self) -> None:
        """Delete the problems of files and models no longer on disk."""
        self.db.execute("delete from problems where file_id in (select id from files where missing != 0)")
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

    def mark_current(self, seen: int) -> None:
        """Note that the problems are worked out from the catalogue as it was at ``seen``
        changes (:meth:`changes`, read before the refresh began), and the problem rows as
        they are now (in the refresh's last transaction)."""
        self.db.execute("update catalogue_changes set refreshed_catalogue = ?, refreshed_problems = problems "
                        "where id = 1", [seen])

    # -- files.problem_kinds ---------------------------------------------------------

    def sync_kinds(self, silenced: Sequence[str]) -> int:
        """Set each file's ``problem_kinds`` to the kinds of its problems and its model's,
        leaving out ``silenced`` ones; only rows whose value changes are written.

        :returns: how many files changed.
        """
        marks = ",".join("?" * len(silenced)) or "''"
        kinds = (
            "(select coalesce(group_concat(kind, ' '), '') from (select distinct kind from problems "
            "where (problems.file_id = files.id or (problems.file_id is null and problems.model_id = files.model_id)) "
            f"and kind not in ({marks}) order by kind))"
        )
        cur = self.db.execute(
            f"update files set problem_kinds = {kinds} "
            f"where problem_kinds is null or problem_kinds != {kinds}",
            [*silenced, *silenced],
        )
        return cur.rowcount
