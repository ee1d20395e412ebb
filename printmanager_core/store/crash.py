"""Crash reports kept in the library: the scrubbed report as JSON, and when it was sent."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from .erase import secure_delete

if TYPE_CHECKING:  # pragma: no cover
    from sqlite_utils import Database


@attrs.frozen
class CrashRow:
    """One stored report; ``report`` is the scrubbed report as JSON text."""

    id: int
    created_at: str
    report: str
    sent_at: str | None = None


@attrs.frozen
class NewCrashReport:
    """What is stored of a new report (the columns beside the JSON are for listing)."""

    created_at: str
    context: str
    app_version: str
    python_version: str
    os: str
    exception_type: str
    report: str


class CrashGateway:
    """Reads and writes the ``crash_reports`` table."""

    def __init__(self, db: Database):
        self.db = db

    def insert(self, new: NewCrashReport) -> int:
        """Store a report; its id."""
        with self.db.conn:
            cur = self.db.execute(
                "insert into crash_reports (created_at, context, app_version, python_version, os, exception_type, "
                "report) values (?, ?, ?, ?, ?, ?, ?)",
                [new.created_at, new.context, new.app_version, new.python_version, new.os, new.exception_type,
                 new.report],
            )
            return int(cur.lastrowid or 0)

    def get(self, report_id: int) -> CrashRow | None:
        """One report, or None."""
        row = self.db.execute(
            "select id, created_at, report, sent_at from crash_reports where id = ?", [report_id]
        ).fetchone()
        return None if row is None else CrashRow(*row)

    def all(self) -> list[CrashRow]:
        """Every report, oldest first."""
        rows = self.db.execute("select id, created_at, report, sent_at from crash_reports order by id").fetchall()
        return [CrashRow(*r) for r in rows]

    def mark_sent(self, report_id: int, at: str) -> None:
        """Record that report ``report_id`` was delivered at ``at``."""
        with self.db.conn:
            self.db.execute("update crash_reports set sent_at = ? where id = ?", [at, report_id])

    def clear(self) -> int:
        """Delete every report, leaving nothing behind; how many went."""
        with secure_delete(self.db):
            return int(self.db.execute("delete from crash_reports").rowcount)

    def user_paths_and_names(self) -> tuple[list[str], set[str]]:
        """What a scrubber removes from reports: root paths, and file and model names."""
        roots = [str(r[0]) for r in self.db.execute("select path from roots")]
        names: set[str] = set()
        for table in ("files", "models"):
            names.update(str(r[0]) for r in self.db.execute(f"select distinct name from {table}") if r[0])
        return roots, names
