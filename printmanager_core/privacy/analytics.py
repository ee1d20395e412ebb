"""Anonymous, aggregate usage analytics (PROMISE 5).

What is kept is a count per *feature* per UTC day — nothing else: no user or
install id, no file contents, names, paths, hashes, tags or free text. This is
enforced by a schema, not a convention:

* a feature is a registered id (:func:`register_feature`) matching
  :data:`FEATURE_PATTERN`; anything else is refused by :class:`Event`'s
  validators, and the table's CHECK constraints refuse it again in SQLite;
* an event carries only the feature, the day and a positive count.

Counts are aggregated as they are recorded (no raw event is ever stored) and
stay local. An app can ship them through the ``register_analytics_sinks`` hook;
:meth:`Analytics.send` gives sinks the aggregates not yet sent, only while the
``privacy.analytics`` switch is on. Switching it off stops collection and
deletes what was not yet sent (SQLite triggers do both, however the switch is
flipped).
"""

from __future__ import annotations

import datetime as _dt
import logging
import re
import threading
from typing import TYPE_CHECKING, Any, Protocol, Sequence, runtime_checkable

import attrs

from ..errors import UsageError
from ..settings import Settings
from ..store.analytics import AggregateRow, AnalyticsGateway

if TYPE_CHECKING:  # pragma: no cover
    from sqlite_utils import Database

log = logging.getLogger(__name__)

SWITCH = "privacy.analytics"

#: What a feature id looks like: lower-case words joined by dots or underscores.
FEATURE_PATTERN = re.compile(r"^[a-z][a-z0-9_.]{0,40}$")

#: Features the core itself records (plugins add theirs with :func:`register_feature`;
#: every CLI command is registered as ``cli.<command path>`` when the CLI loads).
CORE_FEATURES: frozenset[str] = frozenset(
    {
        "library.scan",
        "library.search",
        "library.thumbnail",
    }
)

_features: set[str] = set(CORE_FEATURES)
_features_lock = threading.Lock()

#: Largest count one event may add (counts, not measurements).
MAX_COUNT = 10_000


def register_feature(*names: str) -> None:
    """Allow ``names`` as analytics features (call at import time, from code).

    :raises UsageError: for a name that does not match :data:`FEATURE_PATTERN`.
    """
    for name in names:
        if not isinstance(name, str) or not FEATURE_PATTERN.match(name):
            raise UsageError(f"{name!r} is not a feature id (lower-case words joined by '.' or '_')")
    with _features_lock:
        _features.update(names)


def registered_features() -> frozenset[str]:
    """Every feature id that may be recorded."""
    with _features_lock:
        return frozenset(_features)


def cli_feature(command_path: Sequence[str]) -> str | None:
    """The feature id of a CLI command path (``["privacy", "export"]`` → ``cli.privacy.export``).

    None when the names do not make a valid feature id.
    """
    name = "cli." + ".".join(part.replace("-", "_") for part in command_path)
    return name if command_path and FEATURE_PATTERN.match(name) else None


def register_cli_commands(group: Any) -> None:
    """Register ``cli.<path>`` for every command of a click group (names come from code)."""
    import click

    def walk(cmd: Any, path: list[str]) -> None:
        feature = cli_feature(path) if path else None
        if feature:
            register_feature(feature)
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])

    walk(group, [])


def _registered(instance: Any, attribute: Any, value: str) -> None:
    if not isinstance(value, str) or not FEATURE_PATTERN.match(value):
        raise UsageError(f"{value!r} is not a feature id")
    if value not in registered_features():
        raise UsageError(f"{value!r} is not a registered analytics feature")


def today() -> _dt.date:
    """Today's date in UTC."""
    return _dt.datetime.now(_dt.timezone.utc).date()


@attrs.frozen
class Event:
    """One use of a feature. Only a registered id, a day and a count: nothing else fits."""

    feature: str = attrs.field(validator=_registered)
    day: _dt.date = attrs.field(factory=today, validator=attrs.validators.instance_of(_dt.date))
    count: int = attrs.field(
        default=1,
        validator=[
            attrs.validators.instance_of(int),
            attrs.validators.ge(1),
            attrs.validators.le(MAX_COUNT),
        ],
    )

    def __attrs_post_init__(self) -> None:
        if isinstance(self.count, bool) or isinstance(self.day, _dt.datetime):
            raise UsageError("an analytics event is a feature, a day and a whole count")


@attrs.frozen
class Aggregate:
    """The count of one feature on one UTC day, and how much of it was sent."""

    feature: str
    day: str  # YYYY-MM-DD
    count: int
    sent: int = 0

    @property
    def pending(self) -> int:
        """Uses not yet sent to a sink."""
        return self.count - self.sent

    def as_json(self) -> dict[str, Any]:
        """``{"feature", "day", "count", "sent"}``."""
        return attrs.asdict(self)


@runtime_checkable
class AnalyticsSink(Protocol):
    """What ``register_analytics_sinks`` takes: something that ships aggregates.

    ``send`` gets aggregates (feature, day, count — the count is the part not yet
    sent); it raises to say they were not delivered (they are kept and offered again).
    """

    name: str

    def send(self, aggregates: Sequence[Aggregate]) -> None: ...


def sinks() -> Any:
    """The registry of analytics sinks (name → sink), from the ``register_analytics_sinks`` hook."""
    from ..registry import collect

    return collect("register_analytics_sinks", lambda sink: getattr(sink, "name", type(sink).__name__))


@attrs.define
class SendResult:
    """What :meth:`Analytics.send` did."""

    sent: int = 0  # aggregates delivered
    sinks: list[str] = attrs.field(factory=list)
    errors: dict[str, str] = attrs.field(factory=dict)


class Analytics:
    """The analytics of one library: record, look, send, switch on and off.

    :param db: the library database.
    :param settings: its settings (made from ``db`` when not given).
    """

    def __init__(self, db: Database, settings: Settings | None = None):
        self.db = db
        self.settings = settings or Settings(db)
        self._store = AnalyticsGateway(db)

    @classmethod
    def for_library(cls, library: Any) -> "Analytics":
        """The analytics of a :class:`~printmanager_core.Library`."""
        return cls(library.store.db, library.settings)

    @property
    def enabled(self) -> bool:
        """The ``privacy.analytics`` switch."""
        return bool(self.settings.get(SWITCH))

    def record(self, feature: str, count: int = 1, *, day: _dt.date | None = None) -> bool:
        """Count one use (or ``count`` uses) of ``feature`` today; False when analytics is off.

        :raises UsageError: for a feature that is not registered, or a bad count.
        """
        event = Event(feature, day or today(), count)
        if not self.enabled:
            return False
        self._store.add(event.feature, event.day.isoformat(), event.count)
        return True

    def aggregates(self) -> list[Aggregate]:
        """Every stored aggregate, oldest day first."""
        return [Aggregate(r.feature, r.day, r.count, r.sent) for r in self._store.all()]

    def pending(self, *, include_today: bool = False) -> list[Aggregate]:
        """Aggregates with uses not yet sent (by default only of finished days)."""
        cutoff = (today() + _dt.timedelta(days=1 if include_today else 0)).isoformat()
        return [Aggregate(r.feature, r.day, r.count, r.sent) for r in self._store.unsent(cutoff)]

    def send(self, *, include_today: bool = False) -> SendResult:
        """Give the pending aggregates to every registered sink, if the switch is on.

        Only finished days are sent unless ``include_today``. Nothing happens when the
        switch is off or no sink is registered: the aggregates stay local. An aggregate
        is marked sent only when every sink took it.
        """
        result = SendResult()
        if not self.enabled:
            return result
        registry = sinks()
        if not len(registry):
            return result
        batch = self.pending(include_today=include_today)
        if not batch:
            return result
        for entry in registry:
            try:
                entry.value.send(list(batch))
                result.sinks.append(entry.name)
            except Exception as exc:  # a sink's failure must not break the caller
                log.warning("analytics sink %s failed: %s", entry.name, exc)
                result.errors[entry.name] = f"{type(exc).__name__}: {exc}"
        if result.errors:
            return result
        self._store.mark_sent(AggregateRow(a.feature, a.day, a.count) for a in batch)
        result.sent = len(batch)
        return result

    def enable(self, *, source: str = "api") -> None:
        """Switch analytics on (recorded in the consent ledger)."""
        self.settings.set(SWITCH, True, source=source)

    def disable(self, *, source: str = "api") -> int:
        """Switch analytics off; returns how many unsent uses were deleted.

        The deleting is done by the database when the switch changes (a trigger),
        so ``settings.set("privacy.analytics", False)`` does the same.
        """
        unsent = self._store.unsent_total()
        self.settings.set(SWITCH, False, source=source)
        return unsent

    def clear(self) -> int:
        """Delete every aggregate, sent or not; returns how many rows went."""
        return self._store.clear()


def record(library: Any, feature: str, count: int = 1) -> bool:
    """Shortcut: count a use of ``feature`` in ``library``; never raises for a closed/broken store.

    Feature ids are still checked (a bad id is a programming error and raises).
    """
    event = Event(feature, today(), count)
    try:
        return Analytics.for_library(library).record(event.feature, event.count)
    except UsageError:
        raise
    except Exception as exc:  # analytics must never break what the user is doing
        log.debug("analytics not recorded: %s", exc)
        return False

