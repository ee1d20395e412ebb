"""The print log's gateway: every read and write of the ``prints`` table (m028)."""

from __future__ import annotations

from typing import Any, Sequence

from ..clock import now_iso
from ..records import PrintRecord
from .erase import secure_delete
from .rows import Rows

_COLUMNS = ("model_id", "file_id", "printed_at", "printer", "result", "note", "duration_s", "source",
            "external_id", "job_name")


class PrintsGateway(Rows):
    """The ``prints`` table: one row per print of a model."""

    def add(self, entry: dict[str, Any]) -> PrintRecord | None:
        """Insert one print (the columns of :data:`_COLUMNS`); the new record.

        An entry whose ``(source, external_id)`` is logged already is not added
        again: None is returned (a printer's job history pulled twice).
        """
        unknown = set(entry) - set(_COLUMNS)
        if unknown:
            raise ValueError(f"not a print-log column: {', '.join(sorted(unknown))}")
        row = {**entry, "created_at": now_iso()}
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self.db.conn:
            cur = self.db.execute(f"insert or ignore into prints ({cols}) values ({marks})", list(row.values()))
        if not cur.rowcount:
            return None
        return self.by_id(int(cur.lastrowid or 0))

    def by_id(self, print_id: int) -> PrintRecord | None:
        """The entry with this id, if any."""
        row = self.one("select * from prints where id = ?", [print_id])
        return None if row is None else PrintRecord.from_row(row)

    def of_model(self, model_id: int) -> list[PrintRecord]:
        """Every entry of one model, newest first."""
        return [PrintRecord.from_row(r) for r in self.rows(
            "select * from prints where model_id = ? order by printed_at desc, id desc", [model_id])]

    def of_file(self, file_id: int) -> list[PrintRecord]:
        """Every entry naming one file, newest first."""
        return [PrintRecord.from_row(r) for r in self.rows(
            "select * from prints where file_id = ? order by printed_at desc, id desc", [file_id])]

    def all(self) -> list[PrintRecord]:
        """Every entry, oldest first (the export)."""
        return [PrintRecord.from_row(r) for r in self.rows("select * from prints order by printed_at, id", [])]

    def external_ids(self, source: str) -> set[str]:
        """The job ids already logged from one printer (``source``)."""
        return {r[0] for r in self.db.execute(
            "select external_id from prints where source = ? and external_id is not null", [source])}

    def delete(self, print_ids: Sequence[int]) -> int:
        """Delete entries by id, overwriting them; how many went."""
        if not print_ids:
            return 0
        with secure_delete(self.db):
            marks = ", ".join("?" for _ in print_ids)
            return max(self.db.execute(f"delete from prints where id in ({marks})", list(print_ids)).rowcount, 0)

    def clear(self) -> int:
        """Delete every entry, overwriting them; how many went."""
        with secure_delete(self.db):
            return max(self.db.execute("delete from prints").rowcount, 0)
