"""The consent ledger: an append-only record of every change of a privacy switch.

The table's triggers (migration ``m002_settings``) refuse updates and deletes;
this gateway only appends and reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:  # pragma: no cover
    from sqlite_utils import Database


@attrs.frozen
class LedgerEntry:
    """One change of a privacy switch; ``value`` and ``detail`` are JSON text."""

    at: str
    switch: str
    value: str
    policy_version: str
    detail: str = "{}"
    source: str = "api"
    id: int | None = None


class ConsentGateway:
    """Appends to and reads the ``consent_ledger`` table."""

    def __init__(self, db: Database):
        self.db = db

    def append(self, entry: LedgerEntry) -> None:
        """Append ``entry`` (joins the caller's transaction, if any)."""
        self.db.execute(
            "insert into consent_ledger (at, switch, value, policy_version, detail, source) values (?, ?, ?, ?, ?, ?)",
            [entry.at, entry.switch, entry.value, entry.policy_version, entry.detail, entry.source],
        )

    def entries(self) -> list[LedgerEntry]:
        """Every entry, oldest first."""
        rows = self.db.execute(
            "select at, switch, value, policy_version, detail, source, id from consent_ledger order by id"
        ).fetchall()
        return [LedgerEntry(r[0], r[1], r[2], r[3], r[4] or "{}", r[5], r[6]) for r in rows]

    def count(self) -> int:
        """How many entries the ledger holds."""
        return int(self.db.execute("select count(*) from consent_ledger").fetchone()[0])
