"""Retention rules: records about people and usage are deleted on schedule.

Each rule names the setting that says how many days a record is kept (defaults
in :data:`printmanager_core.settings.DEFAULTS`, configurable with
``printmanager settings set retention.<rule>_days N``):

=============================  ======  ==================================================
setting                        default deletes
=============================  ======  ==================================================
retention.access_log_days      90      share access-log entries older than that
retention.ended_share_days     30      share links revoked or expired that long ago,
                                       with their access-log entries
retention.crash_report_days    30      crash reports older than that
retention.analytics_days       90      analytics aggregates of days older than that
retention.unused_recipient_days 365    distribution lists and recipients no remaining
                                       link uses, last used (or made) that long ago
=============================  ======  ==================================================

Analytics raw events are never stored: they are aggregated as they are recorded.
Rules run with ``printmanager privacy retention apply`` and, when
``retention.on_open`` is true (the default), whenever a library is opened: the
check is a handful of indexed ``EXISTS`` queries, and nothing is written unless
something expired.
"""

from __future__ import annotations

import datetime as _dt
import logging
from typing import Any

import attrs
from sqlite_utils import Database

from ..settings import Settings

log = logging.getLogger(__name__)


@attrs.frozen
class Rule:
    """One retention rule: the setting giving its days, and the deletes it runs.

    ``deletes`` are ``(table, where)`` pairs run in order; ``?`` in ``where`` is the
    cutoff (an ISO timestamp, or a ``YYYY-MM-DD`` day when ``by_day``).
    """

    name: str
    setting: str
    description: str
    deletes: tuple[tuple[str, str], ...]
    by_day: bool = False


_ENDED = "(revoked_at < ? or expires_at < ?)"
_UNUSED_LIST = (
    "id not in (select list_id from share_links where list_id is not null) "
    "and coalesce(last_used_at, created_at) < ?"
)
_UNUSED_RECIPIENT = (
    "id not in (select recipient_id from share_links where recipient_id is not null) "
    "and id not in (select recipient_id from share_list_members) "
    "and coalesce(last_used_at, created_at) < ?"
)

RULES: tuple[Rule, ...] = (
    Rule(
        "access_log",
        "retention.access_log_days",
        "share access-log entries older than N days",
        (("share_access_log", "at < ?"),),
    ),
    Rule(
        "ended_shares",
        "retention.ended_share_days",
        "share links revoked or expired more than N days ago, with their access log",
        (
            ("share_access_log", f"link_id in (select id from share_links where {_ENDED})"),
            ("share_links", _ENDED),
        ),
    ),
    Rule(
        "crash_reports",
        "retention.crash_report_days",
        "crash reports older than N days",
        (("crash_reports", "created_at < ?"),),
    ),
    Rule(
        "analytics",
        "retention.analytics_days",
        "analytics aggregates of days more than N days ago",
        (("analytics_aggregates", "day < ?"),),
        by_day=True,
    ),
    Rule(
        "unused_recipients",
        "retention.unused_recipient_days",
        "distribution lists and recipients no link uses, last used more than N days ago",
        (
            ("share_list_members", f"list_id in (select id from share_lists where {_UNUSED_LIST})"),
            ("share_lists", _UNUSED_LIST),
            ("share_recipients", _UNUSED_RECIPIENT),
        ),
    ),
)


@attrs.define
class RetentionReport:
    """Rows deleted per table, and the cutoff each rule used."""

    removed: dict[str, int] = attrs.field(factory=dict)
    cutoffs: dict[str, str] = attrs.field(factory=dict)

    @property
    def total(self) -> int:
        """Rows deleted in all."""
        return sum(self.removed.values())

    def as_json(self) -> dict[str, Any]:
        """``{"removed": {table: rows}, "cutoffs": {rule: cutoff}, "total": n}``."""
        return {"removed": dict(self.removed), "cutoffs": dict(self.cutoffs), "total": self.total}


def _cutoff(rule: Rule, settings: Settings, now: _dt.datetime) -> str:
    days = int(settings.get(rule.setting))
    moment = now - _dt.timedelta(days=days)
    if rule.by_day:
        return moment.date().isoformat()
    return moment.isoformat(timespec="microseconds")


def _now(now: _dt.datetime | None) -> _dt.datetime:
    now = now or _dt.datetime.now(_dt.timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=_dt.timezone.utc)
    return now.astimezone(_dt.timezone.utc)


def due(db: Database, settings: Settings | None = None, *, now: _dt.datetime | None = None) -> bool:
    """Whether any rule has something to delete (read-only, cheap)."""
    settings = settings or Settings(db)
    moment = _now(now)
    for rule in RULES:
        cutoff = _cutoff(rule, settings, moment)
        for table, where in rule.deletes:
            params = [cutoff] * where.count("?")
            if db.execute(f"select exists(select 1 from {table} where {where})", params).fetchone()[0]:
                return True
    return False


def apply(db: Database, settings: Settings | None = None, *, now: _dt.datetime | None = None) -> RetentionReport:
    """Delete every record a rule says has expired, in one transaction."""
    settings = settings or Settings(db)
    moment = _now(now)
    report = RetentionReport()
    with db.conn:
        for rule in RULES:
            cutoff = _cutoff(rule, settings, moment)
            report.cutoffs[rule.name] = cutoff
            for table, where in rule.deletes:
                params = [cutoff] * where.count("?")
                n = db.execute(f"delete from {table} where {where}", params).rowcount
                report.removed[table] = report.removed.get(table, 0) + max(n, 0)
    return report


def apply_on_open(library: Any) -> RetentionReport | None:
    """Apply the rules when a library opens, if ``retention.on_open`` and anything expired.

    Never raises: a busy or read-only store is left for the next open.
    """
    try:
        if not library.settings.get("retention.on_open"):
            return None
        if not due(library.db, library.settings):
            return None
        return apply(library.db, library.settings)
    except Exception as exc:
        log.debug("retention on open skipped: %s", exc)
        return None
