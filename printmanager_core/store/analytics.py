"""The analytics aggregates: a count per feature per UTC day, and how much of it was sent.

The table's CHECK constraints and triggers (migration ``m004_privacy``) keep
anything but feature ids, days and counts out, and make a switched-off
``privacy.analytics`` collect nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

import attrs

from .erase import secure_delete

if TYPE_CHECKING:  # pragma: no cover
    from sqlite_utils import Database


@attrs.frozen
class AggregateRow:
    """One row: ``count`` uses of ``feature`` on ``day`` (``YYYY-MM-DD``), ``sent`` of them sent."""

    feature: str
    day: str
    count: int
    sent: int = 0


class AnalyticsGateway:
    """Reads and writes the ``analytics_aggregates`` table."""

    def __init__(self, db: Database):
        self.db = db

    def add(self, feature: str, day: str, count: int) -> None:
        """Add ``count`` uses of ``feature`` on ``day`` (ignored by the table while analytics is off)."""
        with self.db.conn:
            self.db.execute(
                "insert into analytics_aggregates (feature, day, count) values (?, ?, ?) "
                "on conflict(feature, day) do update set count = count + excluded.count",
                [feature, day, count],
            )

    def all(self) -> list[AggregateRow]:
        """Every row, oldest day first."""
        rows = self.db.execute(
            "select feature, day, count, sent from analytics_aggregates order by day, feature"
        ).fetchall()
        return [AggregateRow(*r) for r in rows]

    def unsent(self, before_day: str) -> list[AggregateRow]:
        """Rows with uses not yet sent, of days before ``before_day``; ``count`` is the unsent part."""
        rows = self.db.execute(
            "select feature, day, count - sent, 0 from analytics_aggregates "
            "where count > sent and day < ? order by day, feature",
            [before_day],
        ).fetchall()
        return [AggregateRow(*r) for r in rows]

    def unsent_total(self) -> int:
        """How many uses were not yet sent, in all."""
        return int(self.db.execute("select coalesce(sum(count - sent), 0) from analytics_aggregates").fetchone()[0])

    def mark_sent(self, batch: Iterable[AggregateRow]) -> None:
        """Record that the (unsent) counts of ``batch`` were delivered."""
        with self.db.conn:
            for row in batch:
                self.db.execute(
                    "update analytics_aggregates set sent = sent + ? where feature = ? and day = ?",
                    [row.count, row.feature, row.day],
                )

    def clear(self) -> int:
        """Delete every row, sent or not, leaving nothing behind; how many went."""
        with secure_delete(self.db):
            return int(self.db.execute("delete from analytics_aggregates").rowcount)
