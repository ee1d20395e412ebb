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
retention.print_log_days       36500   print-log entries of prints older than that
                                       (a hundred years: kept, unless you shorten it)
=============================  ======  ==================================================

Analytics raw events are never stored: they are aggregated as they are recorded.

When the rules run (docs/privacy.md, "Retention"): opening a library only
migrates it, it deletes nothing. The rules run

* with ``printmanager privacy retention apply`` (and ``Library.apply_retention()``
  from code: an app embedding printmanager calls it on its own schedule, e.g.
  once a day or at start-up);
* after every ``printmanager`` command run on an existing library, while
  ``retention.auto`` is true (the default): the check is a handful of indexed
  ``EXISTS`` queries, and nothing is written unless something expired. A
  failure there (a busy or read-only library) is one warning line on stderr
  naming the command to run, never a silent skip and never the command's
  failure.

The deletes themselves (SQL) are in :mod:`printmanager_core.store.retention`;
deleted records are overwritten (``secure_delete``), not just marked free.
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any

import attrs

from ..settings import Settings
from ..store.retention import DELETES, RetentionGateway

if TYPE_CHECKING:  # pragma: no cover
    from sqlite_utils import Database


@attrs.frozen
class Rule:
    """One retention rule: the setting giving its days, and what it deletes.

    The cutoff is an ISO timestamp, or a ``YYYY-MM-DD`` day when ``by_day``.
    """

    name: str
    setting: str
    description: str
    by_day: bool = False

    @property
    def tables(self) -> tuple[str, ...]:
        """The tables the rule deletes from, in order."""
        return tuple(table for table, _ in DELETES[self.name])


RULES: tuple[Rule, ...] = (
    Rule("access_log", "retention.access_log_days", "share access-log entries older than N days"),
    Rule(
        "ended_shares",
        "retention.ended_share_days",
        "share links revoked or expired more than N days ago, with their access log",
    ),
    Rule("crash_reports", "retention.crash_report_days", "crash reports older than N days"),
    Rule("analytics", "retention.analytics_days", "analytics aggregates of days more than N days ago", by_day=True),
    Rule(
        "unused_recipients",
        "retention.unused_recipient_days",
        "distribution lists and recipients no link uses, last used more than N days ago",
    ),
    Rule("print_log", "retention.print_log_days", "print-log entries of prints more than N days ago"),
)

#: the setting that makes the CLI apply the rules after each command
AUTO_SETTING = "retention.auto"


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


def _cutoffs(settings: Settings, now: _dt.datetime | None) -> dict[str, str]:
    moment = _now(now)
    return {rule.name: _cutoff(rule, settings, moment) for rule in RULES}


def due(db: Database, settings: Settings | None = None, *, now: _dt.datetime | None = None) -> bool:
    """Whether any rule has something to delete (read-only, cheap)."""
    return RetentionGateway(db).due(_cutoffs(settings or Settings(db), now))


def apply(db: Database, settings: Settings | None = None, *, now: _dt.datetime | None = None) -> RetentionReport:
    """Delete every record a rule says has expired, in one transaction (overwriting it)."""
    cutoffs = _cutoffs(settings or Settings(db), now)
    return RetentionReport(removed=RetentionGateway(db).delete(cutoffs), cutoffs=cutoffs)


def apply_if_due(db: Database, settings: Settings | None = None, *,
                 now: _dt.datetime | None = None) -> RetentionReport | None:
    """:func:`apply` when ``retention.auto`` is on and something expired; else None (nothing written).

    Errors are not caught: the caller says what went wrong.
    """
    settings = settings or Settings(db)
    if not settings.get(AUTO_SETTING):
        return None
    cutoffs = _cutoffs(settings, now)
    gateway = RetentionGateway(db)
    if not gateway.due(cutoffs):
        return None
    return RetentionReport(removed=gateway.delete(cutoffs), cutoffs=cutoffs)
