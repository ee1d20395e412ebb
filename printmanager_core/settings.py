"""Per-library settings, with the privacy switches and their consent ledger.

Every change of a privacy switch is appended to the consent ledger (what, when,
which policy version, optional detail such as the sync backend). The ledger
cannot be updated or deleted row by row (SQLite triggers enforce it); only
deleting the whole library removes it.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

from sqlite_utils import Database

from .errors import NotFound, UsageError
from .store.consent import LedgerEntry
from .store.settings import SettingsGateway

#: Version of the privacy policy that consent is given under.
POLICY_VERSION = "2026-11-01"

#: Switches whose changes are recorded in the consent ledger.
PRIVACY_SWITCHES = frozenset({"privacy.analytics", "privacy.crash_reports", "privacy.sync"})

#: Every known setting and its default. Plugins may use their own keys
#: ("<plugin>.<name>"); unknown keys are accepted only with a dot in them.
DEFAULTS: dict[str, Any] = {
    "privacy.analytics": True,
    "privacy.crash_reports": False,
    "privacy.sync": False,
    "thumbnails.on_scan": True,
    "thumbnails.size": 256,
    # Retention (docs/privacy.md): days a record is kept before it is deleted.
    # true: the CLI applies the rules after each command (docs/privacy.md, "Retention")
    "retention.auto": True,
    "retention.access_log_days": 90,
    "retention.crash_report_days": 30,
    "retention.analytics_days": 90,
    "retention.ended_share_days": 30,
    "retention.unused_recipient_days": 365,
}


#: Namespaces of the core's own settings: an unknown key in them is a typo, refused.
CORE_PREFIXES = frozenset({"privacy", "retention"})

#: Settings that were renamed (old key → new key; migration m016 moved stored values).
RENAMED = {"retention.on_open": "retention.auto"}


def now_iso() -> str:
    """The current UTC time as ISO 8601 with microseconds."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


def parse_value(text: str) -> Any:
    """Turn a CLI string into a value: JSON if it parses (true, 3, "x"), else the string."""
    lowered = text.strip().lower()
    if lowered in ("on", "yes"):
        return True
    if lowered in ("off", "no"):
        return False
    try:
        return json.loads(text)
    except ValueError:
        return text


class Settings:
    """Settings of one library, stored in its database (through :class:`~.store.settings.SettingsGateway`)."""

    def __init__(self, db: Database):
        self.db = db
        self._store = SettingsGateway(db)

    def get(self, key: str) -> Any:
        """The value of ``key`` (its default when never set); NotFound for an unknown key."""
        text = self._store.value(key)
        if text is not None:
            return json.loads(text)
        if key in DEFAULTS:
            return DEFAULTS[key]
        raise NotFound(f"unknown setting {key!r}")

    def set(self, key: str, value: Any, *, detail: dict[str, Any] | None = None, source: str = "api") -> None:
        """Set ``key``; a privacy switch change is also recorded in the consent ledger.

        :param detail: what the consent covers (e.g. ``{"backend": "s3"}``), ledger only.
        :param source: who changed it (``"api"``, ``"cli"``).
        """
        self._check(key, value)
        at = now_iso()
        ledger = None
        if key in PRIVACY_SWITCHES:
            ledger = LedgerEntry(at, key, json.dumps(value), POLICY_VERSION, json.dumps(detail or {}), source)
        self._store.put(key, json.dumps(value), at, ledger=ledger)

    def all(self) -> dict[str, Any]:
        """Every setting: defaults overlaid with stored values."""
        values = dict(DEFAULTS)
        for stored in self._store.stored():
            values[stored.key] = json.loads(stored.value)
        return dict(sorted(values.items()))

    def changed(self) -> list[dict[str, Any]]:
        """The settings the user changed: ``{"key", "value", "updated_at"}``, by key."""
        return [{"key": s.key, "value": json.loads(s.value), "updated_at": s.updated_at}
                for s in self._store.stored()]

    def consent_ledger(self) -> list[dict[str, Any]]:
        """Every recorded change of a privacy switch, oldest first."""
        return [
            {
                "id": e.id,
                "at": e.at,
                "switch": e.switch,
                "value": json.loads(e.value),
                "policy_version": e.policy_version,
                "detail": json.loads(e.detail or "{}"),
                "source": e.source,
            }
            for e in self._store.consent.entries()
        ]

    @staticmethod
    def _check(key: str, value: Any) -> None:
        if key not in DEFAULTS and "." not in key:
            raise UsageError(f"unknown setting {key!r} (plugin settings are named 'plugin.name')")
        if key not in DEFAULTS and key.split(".", 1)[0] in CORE_PREFIXES:
            hint = f"; it is now {RENAMED[key]!r}" if key in RENAMED else ""
            raise UsageError(f"unknown setting {key!r}{hint}")
        default = DEFAULTS.get(key)
        if isinstance(default, bool) and not isinstance(value, bool):
            raise UsageError(f"{key} takes true or false, not {value!r}")
        if isinstance(default, int) and not isinstance(default, bool):
            if isinstance(value, bool) or not isinstance(value, int):
                raise UsageError(f"{key} takes a whole number, not {value!r}")
            if key.startswith("retention.") and value < 1:
                raise UsageError(f"{key} takes a number of days of at least 1, not {value!r}")
