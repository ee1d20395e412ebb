"""What every gateway shares: rows as dicts, and finding a row by its exact path."""

from __future__ import annotations

from typing import Any, Sequence

from ..errors import UsageError
from ..paths import display_path, stored_path
from .plain import PlainDatabase


class Rows:
    """A gateway over one library database (the base of every gateway)."""

    def __init__(self, db: PlainDatabase):
        self.db = db

    def rows(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        """Every row of a query, as column → value dicts."""
        cur = self.db.execute(sql, list(params))
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]

    def one(self, sql: str, params: Sequence[Any]) -> dict[str, Any] | None:
        """The first row of a query, or None."""
        rows = self.rows(sql, params)
        return rows[0] if rows else None

    def by_exact_path(self, select: str, table: str, candidates: Sequence[str]) -> dict[str, Any] | None:
        """The row of ``select`` whose exact path is a candidate, else the one whose
        display text is (``table`` names the table holding ``path``/``path_bytes``).

        :raises UsageError: two names show as the same display text.
        """
        for cand in candidates:
            text, exact = stored_path(cand)
            row = self.one(f"{select} where coalesce({table}.path_bytes, {table}.path) = ?",
                           [text if exact is None else exact])
            if row:
                return row
        for cand in candidates:
            rows = self.rows(f"{select} where {table}.path = ? limit 2", [display_path(cand)])
            if len(rows) == 1:
                return rows[0]
            if rows:
                raise UsageError(f"more than one name is shown as {display_path(cand)}; use the id")
        return None
