"""The organise journal (m022) and the catalogue path changes a move makes.

Every read and write of ``organise_batches`` and ``organise_steps``, and the
updates that give files, models and problems their new paths when a journal step
moves them (in the caller's transaction, together with the step's new state).
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterable

import attrs

from ..clock import now_iso
from ..paths import display_path, is_within, path_from_store, stored_path
from .files import exact_key
from .rows import Rows

#: the columns of a step a caller may set
STEP_COLUMNS = frozenset({"method", "state", "size", "mtime_ns", "inode", "hash", "created_dirs", "detail", "error",
                          "dst", "dst_root_id"})
#: the columns of a batch a caller may set
BATCH_COLUMNS = frozenset({"status", "finished_at", "error"})


@attrs.define
class Step:
    """One step of an organise batch (paths exact; ``detail`` and ``created_dirs`` decoded)."""

    id: int
    batch_id: int
    seq: int
    kind: str
    src: str
    dst: str
    state: str = "planned"
    model_id: int | None = None
    dst_root_id: int | None = None
    method: str = ""
    size: int | None = None
    mtime_ns: int | None = None
    inode: int | None = None
    hash: str | None = None
    created_dirs: list[str] = attrs.field(factory=list)
    detail: dict[str, Any] = attrs.field(factory=dict)
    error: str | None = None


@attrs.define
class Batch:
    """One organise batch: a run of ``organise`` or the undo of one."""

    id: int
    kind: str
    status: str
    created_at: str
    query: str = ""
    undoes: int | None = None
    root_id: int | None = None
    finished_at: str | None = None
    error: str | None = None
    steps: int = 0
    done: int = 0

    def as_json(self) -> dict[str, Any]:
        """The JSON shape of a batch (``organise --list --json``)."""
        return attrs.asdict(self)


def _step(row: dict[str, Any]) -> Step:
    return Step(
        id=row["id"], batch_id=row["batch_id"], seq=row["seq"], kind=row["kind"],
        src=path_from_store(row["src"], row["src_bytes"]), dst=path_from_store(row["dst"], row["dst_bytes"]),
        state=row["state"], model_id=row["model_id"], dst_root_id=row["dst_root_id"], method=row["method"] or "",
        size=row["size"], mtime_ns=row["mtime_ns"], inode=row["inode"], hash=row["hash"],
        created_dirs=json.loads(row["created_dirs"] or "[]"), detail=json.loads(row["detail"] or "{}"),
        error=row["error"],
    )  # fmt: skip


_BATCH_SELECT = (
    "select organise_batches.*, "
    "(select count(*) from organise_steps where batch_id = organise_batches.id) as steps, "
    "(select count(*) from organise_steps where batch_id = organise_batches.id and state = 'done') as done "
    "from organise_batches"
)


class OrganiseGateway(Rows):
    """``organise_batches`` and ``organise_steps``, and the path updates of a move."""

    # -- the journal ---------------------------------------------------------------

    def create_batch(self, *, kind: str, query: str, root_id: int | None, undoes: int | None = None,
                     steps: Iterable[dict[str, Any]] = ()) -> int:
        """Write a batch and all its steps (each ``kind``, ``src``, ``dst``, ``model_id``,
        ``dst_root_id``, optional ``detail``), in one transaction; returns the batch id."""
        with self.db.conn:
            cur = self.db.execute(
                "insert into organise_batches (kind, undoes, query, root_id, status, created_at) "
                "values (?, ?, ?, ?, 'running', ?)", [kind, undoes, query, root_id, now_iso()])
            batch_id = int(cur.lastrowid or 0)
            for seq, s in enumerate(steps):
                src, src_bytes = stored_path(s["src"])
                dst, dst_bytes = stored_path(s["dst"])
                self.db.execute(
                    "insert into organise_steps (batch_id, seq, kind, model_id, src, src_bytes, dst, dst_bytes, "
                    "dst_root_id, state, detail, created_dirs) values (?, ?, ?, ?, ?, ?, ?, ?, ?, 'planned', ?, ?)",
                    [batch_id, seq, s["kind"], s.get("model_id"), src, src_bytes, dst, dst_bytes,
                     s.get("dst_root_id"), json.dumps(s.get("detail") or {}), json.dumps(s.get("created_dirs") or [])])
        return batch_id

    def steps(self, batch_id: int) -> list[Step]:
        """The steps of a batch, in order."""
        return [_step(r) for r in self.rows("select * from organise_steps where batch_id = ? order by seq",
                                            [batch_id])]

    def set_step(self, step_id: int, **columns: Any) -> None:
        """Set columns of a step (JSON ones given as Python values). Joins the caller's transaction."""
        unknown = set(columns) - STEP_COLUMNS
        if unknown:
            raise ValueError(f"not a step column: {', '.join(sorted(unknown))}")
        values = dict(columns)
        for key in ("created_dirs", "detail"):
            if key in values:
                values[key] = json.dumps(values[key])
        if "dst" in values:
            values["dst"], values["dst_bytes"] = stored_path(values["dst"])
        with self.db.conn:
            self.db.execute(f"update organise_steps set {', '.join(f'{c} = ?' for c in values)} where id = ?",
                            [*values.values(), step_id])

    def set_batch(self, batch_id: int, **columns: Any) -> None:
        """Set ``status``, ``finished_at`` or ``error`` of a batch."""
        unknown = set(columns) - BATCH_COLUMNS
        if unknown:
            raise ValueError(f"not a batch column: {', '.join(sorted(unknown))}")
        with self.db.conn:
            self.db.execute(f"update organise_batches set {', '.join(f'{c} = ?' for c in columns)} where id = ?",
                            [*columns.values(), batch_id])

    def batch(self, batch_id: int) -> Batch | None:
        """One batch, with how many steps it has and how many are done."""
        row = self.one(f"{_BATCH_SELECT} where organise_batches.id = ?", [batch_id])
        return None if row is None else Batch(**row)

    def batches(self) -> list[Batch]:
        """Every batch, newest first."""
        return [Batch(**r) for r in self.rows(f"{_BATCH_SELECT} order by organise_batches.id desc", [])]

    def running(self) -> Batch | None:
        """The newest batch that has not finished (an interrupted run), if any."""
        row = self.one(f"{_BATCH_SELECT} where status = 'running' order by organise_batches.id desc limit 1", [])
        return None if row is None else Batch(**row)

    # -- what the catalogue knows of a place ---------------------------------------------

    def path_taken(self, path: str) -> bool:
        """Whether a file or model of the catalogue (present or missing) is at ``path`` or below it."""
        text = display_path(path)
        prefix = text.rstrip(os.sep) + os.sep
        for table in ("files", "models"):
            if self.db.execute(f"select 1 from {table} where coalesce(path_bytes, path) = ? limit 1",
                               [exact_key(path)]).fetchone():
                return True
            rows = self.db.execute(f"select path, path_bytes from {table} where path >= ? and path < ? "
                                   "or path like ? escape '\\'",
                                   [prefix, prefix[:-1] + chr(ord(os.sep) + 1), _like(text) + "!/%"]).fetchall()
            for t, b in rows:
                p = path_from_store(t, b)
                if is_within(p, path) or p.startswith(path + "!/"):
                    return True
        return False

    # -- moving rows (in the caller's transaction) ------------------------------------

    def move_paths(self, src: str, dst: str, root_id: int | None, *, models: bool = False) -> list[int]:
        """Give every file at ``src`` (a file, an archive and its members, or a folder and
        everything below it) the same place under ``dst``, and its problems their new
        path; with ``models``, the models below ``src`` too. Returns the files' ids.
        In the caller's transaction."""
        ids: list[int] = []
        for table in ("files", "models") if models else ("files",):
            for row in self._below(table, src):
                old = path_from_store(row["path"], row["path_bytes"])
                new = dst + old[len(src):]
                text, exact = stored_path(new)
                sets: dict[str, Any] = {"path": text, "path_bytes": exact}
                if root_id is not None:
                    sets["root_id"] = root_id
                if table == "files":
                    if row["archive_path"]:
                        archive = old.split("!/", 1)[0]
                        sets["archive_path"] = display_path(dst + archive[len(src):])
                    ids.append(int(row["id"]))
                self.db.execute(f"update {table} set {', '.join(f'{c} = ?' for c in sets)} where id = ?",
                                [*sets.values(), row["id"]])
                column = "file_id" if table == "files" else "model_id"
                extra = "" if table == "files" else " and file_id is null"
                self.db.execute(f"update problems set path = ? where {column} = ?{extra}", [text, row["id"]])
        return ids

    def _below(self, table: str, src: str) -> list[dict[str, Any]]:
        text = display_path(src)
        prefix = text.rstrip(os.sep) + os.sep
        cols = "id, path, path_bytes" + (", archive_path" if table == "files" else "")
        rows = self.rows(f"select {cols} from {table} where path = ? or (path >= ? and path < ?) "
                         "or path like ? escape '\\'",
                         [text, prefix, prefix[:-1] + chr(ord(os.sep) + 1), _like(text) + "!/%"])
        out = []
        for r in rows:
            p = path_from_store(r["path"], r["path_bytes"])
            if p == src or is_within(p, src) or p.startswith(src + "!/"):
                out.append(r)
        return out

    def place_model(self, model_id: int, path: str, kind: str, root_id: int | None) -> None:
        """Give a model its place (path, kind, root) and its own problems the path. In the caller's transaction."""
        text, exact = stored_path(path)
        self.db.execute("update models set path = ?, path_bytes = ?, kind = ?, root_id = ?, updated_at = ? "
                        "where id = ?", [text, exact, kind, root_id, now_iso(), model_id])
        self.db.execute("update problems set path = ? where model_id = ? and file_id is null", [text, model_id])

    def model_place(self, model_id: int) -> dict[str, Any] | None:
        """A model's place: ``{"path", "kind", "root_id"}`` (path exact), or None."""
        row = self.one("select path, path_bytes, kind, root_id from models where id = ?", [model_id])
        if row is None:
            return None
        return {"path": path_from_store(row["path"], row["path_bytes"]), "kind": row["kind"],
                "root_id": row["root_id"]}

    def file_rows_at(self, path: str) -> list[int]:
        """The ids of the files at ``path`` (a file, or an archive's members)."""
        return [int(r["id"]) for r in self._below("files", path)]


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
