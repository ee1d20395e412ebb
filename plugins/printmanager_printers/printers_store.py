"""The printers plugin's storage: its ``printers`` table, through sqlite-utils' table API."""

from __future__ import annotations

from typing import Any

import attrs
from sqlite_utils import Database


@attrs.frozen
class Printer:
    """A printer the user added (and consented to contact)."""

    name: str
    kind: str
    url: str
    added_at: str
    consented_at: str
    consent_text: str = ""

    def as_json(self) -> dict[str, Any]:
        """``printer ls --json`` (never the API key)."""
        return attrs.asdict(self)


class PrintersStore:
    """Rows of ``printers``."""

    def __init__(self, db: Database):
        self.db = db
        self.table = db.table("printers")

    def all(self) -> list[Printer]:
        """Every printer, by name."""
        if "printers" not in self.db.table_names():
            return []
        return [Printer(**{k: v for k, v in row.items() if v is not None})
                for row in self.table.rows_where(order_by="name")]

    def get(self, name: str) -> Printer | None:
        """The printer ``name``, if added."""
        return next((p for p in self.all() if p.name == name), None)

    def add(self, printer: Printer) -> None:
        """Add (or replace) a printer."""
        with self.db.conn:
            self.table.upsert(attrs.asdict(printer), pk="name")

    def remove(self, name: str) -> bool:
        """Remove a printer; False when there was none."""
        if self.get(name) is None:
            return False
        with self.db.conn:
            self.table.delete(name)
        return True
