"""The models gateway: every read and write of the ``models`` table."""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from ..paths import stored_path
from ..records import ModelRecord
from ..clock import now_iso
from .files import Where, exact_key
from .rows import Rows

#: a model's ``missing`` as its files say: 1 when none of them is present
MODEL_MISSING = "(case when exists (select 1 from files where files.model_id = models.id and files.missing = 0) " \
           "then 0 else 1 end)"
#: ids per ``in (...)`` list
_CHUNK = 500

#: a model row with its present files counted and its collections' names
MODEL_SELECT = (
    "select models.*, "
    "(select count(*) from files where files.model_id = models.id and files.missing = 0) as file_count, "
    "(select group_concat(collections.name, char(31)) from collection_models "
    " join collections on collections.id = collection_models.collection_id "
    " where collection_models.model_id = models.id) as collection_names, "
    "(select group_concat(prints.printed_at, char(31)) from prints "
    " where prints.model_id = models.id and prints.result = 'ok') as printed_dates "
    "from models"
)

#: the fields a user may set on a model
EDITABLE = frozenset({"name", "creator", "source_url", "licence", "notes", "title", "caption", "description"})


class ModelsGateway(Rows):
    """The ``models`` table."""

    def select(self, where: Where, *, include_missing: bool = False) -> list[ModelRecord]:
        """Models with at least one file matching ``where``, by name then path."""
        sql, params = where.sql()
        missing = "" if include_missing else " and models.missing = 0"
        text = (
            f"{MODEL_SELECT} where models.id in (select files.model_id from files where {sql}"
            f"{'' if include_missing else ' and files.missing = 0'}){missing} order by models.name, models.path"
        )
        return [ModelRecord.from_row(r) for r in self.rows(text, params)]

    def page(self, where: Where, *, offset: int = 0, limit: int = 60) -> tuple[list[ModelRecord], int]:
        """One page of :meth:`select` (present models, same order) and how many match in all."""
        sql, params = where.sql()
        matching = (f"models.missing = 0 and models.id in (select files.model_id from files where ({sql}) "
                    "and files.missing = 0)")
        total = int(self.db.execute(f"select count(*) from models where {matching}", list(params)).fetchone()[0])
        text = (f"{MODEL_SELECT} where {matching} order by models.name, models.path "
                f"limit {max(0, int(limit))} offset {max(0, int(offset))}")
        return [ModelRecord.from_row(r) for r in self.rows(text, params)], total

    def by_id(self, model_id: int) -> ModelRecord | None:
        """The model with this id, if any."""
        row = self.one(f"{MODEL_SELECT} where models.id = ?", [model_id])
        return None if row is None else ModelRecord.from_row(row)

    def by_path(self, candidates: Sequence[str]) -> ModelRecord | None:
        """The model whose exact path is a candidate, else the one whose display text is."""
        row = self.by_exact_path(MODEL_SELECT, "models", candidates)
        return None if row is None else ModelRecord.from_row(row)

    def update(self, model_id: int, fields: dict[str, Any]) -> None:
        """Set user fields (:data:`EDITABLE`) of a model and its ``updated_at``."""
        unknown = set(fields) - EDITABLE
        if unknown:
            raise ValueError(f"not a model field: {', '.join(sorted(unknown))}")
        with self.db.conn:
            self.db.table("models").update(model_id, {**fields, "updated_at": now_iso()})

    def set_tags_text(self, model_id: int, names: Sequence[str]) -> None:
        """The denormalised, space-separated tag list (for search); in the caller's transaction."""
        self.db.execute("update models set tags = ? where id = ?", [" ".join(names), model_id])

    #: model column → the 3MF metadata names a scan fills it from, in order of preference:
    #: the core spec's names (PrusaSlicer writes these too), then Bambu Studio's project fields
    FILE_METADATA: dict[str, tuple[str, ...]] = {
        "creator": ("Designer",),
        "licence": ("LicenseTerms", "License"),
        "title": ("Title", "ProfileTitle"),
        "description": ("Description", "ProfileDescription"),
    }

    def fill_from_file_metadata(self, ids: Iterable[int] | None = None) -> int:
        """Fill each model's empty creator, licence, title and description from its files'
        3MF metadata (:data:`FILE_METADATA`; for each name, the first file by path that has it).

        Only empty fields are filled, so a value the user set (``model-set``) is never
        overwritten. Returns how many model fields were filled.

        :param ids: only these models (the ones whose files or fields changed); every model when None.
        """
        filled = 0
        chunks: list[list[int] | None] = [None]
        if ids is not None:
            wanted = sorted(set(ids))
            chunks = [wanted[i : i + 500] for i in range(0, len(wanted), 500)]
        with self.db.conn:
            for chunk in chunks:
                only = "" if chunk is None else f" and models.id in ({','.join('?' * len(chunk))})"
                for column, names in self.FILE_METADATA.items():
                    for name in names:
                        value = (
                            "(select json_extract(files.meta, '$.metadata.' || ?) from files "
                            "where files.model_id = models.id and files.missing = 0 and json_valid(files.meta) "
                            "and coalesce(json_extract(files.meta, '$.metadata.' || ?), '') != '' "
                            "order by files.path limit 1)"
                        )
                        cur = self.db.execute(
                            f"update models set {column} = {value} "
                            f"where coalesce({column}, '') = '' and {value} is not null{only}",
                            [name, name, name, name, *(chunk or ())],
                        )
                        filled += cur.rowcount
        return filled

    #: the model columns a ``datapackage.json`` sidecar may fill (docs/organise.md, "Sidecars")
    SIDECAR_COLUMNS = frozenset({"title", "caption", "description", "creator", "licence", "source_url"})

    def sidecar_candidates(self) -> list[tuple[int, int | None, str, str | None]]:
        """Every present folder model: ``(id, root_id, path, sidecar_hash)``, by path."""
        return [(int(r[0]), r[1], str(r[2]), r[3]) for r in self.db.execute(
            "select id, root_id, path, sidecar_hash from models where kind = 'folder' and missing = 0 "
            "order by path")]

    def fill_from_sidecar(self, model_id: int, values: dict[str, str], digest: str) -> list[str]:
        """Fill the model's *empty* fields from ``values`` (:data:`SIDECAR_COLUMNS`) and record
        ``digest`` as its ``sidecar_hash``; runs in the caller's transaction. The columns filled."""
        unknown = set(values) - self.SIDECAR_COLUMNS
        if unknown:
            raise ValueError(f"not a sidecar field: {', '.join(sorted(unknown))}")
        filled = []
        for column, value in sorted(values.items()):
            cur = self.db.execute(
                f"update models set {column} = ? where id = ? and coalesce({column}, '') = ''", [value, model_id])
            if cur.rowcount:
                filled.append(column)
        self.db.execute("update models set sidecar_hash = ? where id = ?", [digest, model_id])
        if filled:
            self.db.execute("update models set updated_at = ? where id = ?", [now_iso(), model_id])
        return filled

    def set_sidecar_hash(self, model_id: int, digest: str) -> None:
        """Record the hash of the sidecar as the model's folder now holds it (after a write)."""
        with self.db.conn:
            self.db.execute("update models set sidecar_hash = ? where id = ?", [digest, model_id])

    # -- what a scan writes ------------------------------------------------------

    def id_for(self, root_id: int, path: str, name: str, kind: str) -> int:
        """The id of the model at ``path`` (exact), created when it does not exist."""
        row = self.db.execute("select id from models where coalesce(path_bytes, path) = ?", [exact_key(path)]).fetchone()
        if row:
            return int(row[0])
        text, exact = stored_path(path)
        now = now_iso()
        cur = self.db.execute(
            "insert into models (root_id, path, path_bytes, name, kind, created_at, updated_at) "
            "values (?, ?, ?, ?, ?, ?, ?)",
            [root_id, text, exact, name, kind, now, now],
        )
        return int(cur.lastrowid or 0)

    def existing_id(self, path: str) -> int | None:
        """The id of the model at ``path`` (exact), if there is one."""
        row = self.db.execute("select id from models where coalesce(path_bytes, path) = ?", [exact_key(path)]).fetchone()
        return int(row[0]) if row else None

    def next_id(self) -> int:
        """The id SQLite would give the next model row. In the caller's write transaction."""
        return int(self.db.execute("select coalesce(max(id), 0) + 1 from models").fetchone()[0])

    @staticmethod
    def new_row(model_id: int, root_id: int, path: str, name: str, kind: str) -> dict[str, Any]:
        """A new model row (for :meth:`insert_many`): model ``model_id`` at ``path`` (exact)."""
        text, exact = stored_path(path)
        now = now_iso()
        return {"id": model_id, "root_id": root_id, "path": text, "path_bytes": exact, "name": name, "kind": kind,
                "created_at": now, "updated_at": now}

    def insert_many(self, rows: Sequence[dict[str, Any]]) -> None:
        """Add :meth:`new_row` rows in a few statements (many rows a statement: the full-text
        trigger then flushes once a statement). In the caller's transaction."""
        cols = ("id", "root_id", "path", "path_bytes", "name", "kind", "created_at", "updated_at")
        one = f"({', '.join('?' * len(cols))})"
        per = 999 // len(cols)
        for i in range(0, len(rows), per):
            chunk = rows[i : i + per]
            self.db.execute(f"insert into models ({', '.join(cols)}) values {', '.join([one] * len(chunk))}",
                            [r[c] for r in chunk for c in cols])

    def refresh_missing(self, root_id: int) -> None:
        """Mark the root's models missing exactly when none of their files is present."""
        # only the rows whose value changes are written (every write is a row's triggers)
        self.db.execute(
            f"update models set missing = {MODEL_MISSING} where root_id = ? and missing is not {MODEL_MISSING}",
            [root_id],
        )

    def refresh_missing_of(self, model_ids: Iterable[int]) -> None:
        """Mark models ``model_ids`` missing exactly when none of their files is present (as
        :meth:`refresh_missing`, for the models whose files were written: an index lookup
        each, not a pass over the root's models). In the caller's transaction."""
        refresh_models_missing(self.db, model_ids)

    def move_root(self, from_root: int, to_root: int) -> None:
        """Give every model of root ``from_root`` to root ``to_root``. In the caller's transaction."""
        self.db.execute("update models set root_id = ? where root_id = ?", [to_root, from_root])


def refresh_models_missing(db: Any, model_ids: Iterable[int | None]) -> None:
    """Mark models ``model_ids`` missing exactly when none of their files is present, on
    ``db`` (a library connection: the gateway's, or a catalogue copy's); only the rows whose
    value changes are written. ``None`` ids (files of no model) are left out."""
    ids = sorted({i for i in model_ids if i is not None})
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        db.execute(
            f"update models set missing = {MODEL_MISSING} where id in ({', '.join('?' * len(chunk))}) "
            f"and missing is not {MODEL_MISSING}",
            chunk,
        )
