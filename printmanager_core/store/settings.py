"""The settings table: one JSON value per key, with when it was last changed.

Values go in and come out as JSON text; turning them into Python values (and
checking them) is the domain's job (:mod:`printmanager_core.settings`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from .consent import ConsentGateway, LedgerEntry
from .erase import secure_delete

if TYPE_CHECKING:  # pragma: no cover
    from sqlite_utils import Database


@attrs.frozen
class StoredSetting:
    """A setting the user changed: its key, its value as JSON text, and when."""

    key: str
    value: str
    updated_at: str


class SettingsGateway:
    """Reads and writes the ``settings`` table of one library database."""

    def __init__(self, db: Database):
        self.db = db
        self.consent = ConsentGateway(db)

    def value(self, key: str) -> str | None:
        """The stored JSON text of ``key``, or None when it was never set."""
        row = self.db.execute("select value from settings where key = ?", [key]).fetchone()
        return None if row is None else str(row[0])

    def stored(self) -> list[StoredSetting]:
        """Every stored setting, by key."""
        rows = self.db.execute("select key, value, updated_at from settings order by key").fetchall()
        return [StoredSetting(*r) for r in rows]

    def put(self, key: str, value: str, at: str, *, ledger: LedgerEntry | None = None) -> None:
        """Store ``value`` (JSON text) as ``key``, and append ``ledger`` in the same transaction.

        A privacy switch (one with a ``ledger`` entry) is written inside
        :func:`~.erase.secure_delete`: switching analytics off deletes what was
        not yet sent (a trigger), and that leaves nothing behind.
        """
        with secure_delete(self.db) if ledger is not None else self.db.conn:
            self.db.execute(
                "insert into settings (key, value, updated_at) values (?, ?, ?) "
                "on conflict(key) do update set value = excluded.value, updated_at = excluded.updated_at",
                [key, value, at],
            )
            if ledger is not None:
                self.consent.append(ledger)

    def count(self) -> int:
        """How many settings are stored."""
        return int(self.db.execute("select count(*) from settings").fetchone()[0])
