"""Per-library settings, with the privacy switches and their consent ledger.

Every change of a privacy switch is appended to the consent ledger (what, when,
which policy version, optional detail such as the sync backend). The ledger
cannot be updated or deleted row by row (SQLite triggers enforce it); only
deleting the whole library removes it.

The core's settings are :data:`DEFAULTS`; plugins declare theirs with the
``register_settings`` hook (:class:`Setting`, :func:`plugin_settings`). The
SQL is in :mod:`printmanager_core.store.settings` and ``store.consent``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Callable

import attrs

from .clock import now_iso
from .errors import NotFound, UsageError
from .problems import SEVERITIES, SEVERITY_PREFIX, severity_defaults
from .store.consent import LedgerEntry
from .store.settings import SettingsGateway

if TYPE_CHECKING:  # pragma: no cover
    from sqlite_utils import Database

#: Version of the privacy policy that consent is given under.
POLICY_VERSION = "2026-11-01"

#: Switches whose changes are recorded in the consent ledger.
PRIVACY_SWITCHES = frozenset({"privacy.analytics", "privacy.crash_reports", "privacy.sync", "privacy.share"})

#: The core's settings and their defaults. Plugins add theirs with the
#: ``register_settings`` hook (:func:`plugin_settings`); other keys are accepted
#: only with a dot in them ("<plugin>.<name>").
DEFAULTS: dict[str, Any] = {
    "privacy.analytics": True,
    "privacy.crash_reports": False,
    "privacy.sync": False,
    "privacy.share": False,
    # Retention (docs/privacy.md, "Retention"): the CLI applies the rules after
    # each command while retention.auto is true; the *_days say how long a record is kept.
    "retention.auto": True,
    "retention.access_log_days": 90,
    "retention.crash_report_days": 30,
    "retention.analytics_days": 90,
    "retention.ended_share_days": 30,
    "retention.unused_recipient_days": 365,
    "retention.print_log_days": 36500,
    # Problems (docs/problems.md): each kind's severity, or "off" to silence it.
    **severity_defaults(),
    # Organise on disk (docs/organise.md): where models go, by query; and under which folder.
    "organise.paths": ["default: {creator|Unknown}/{collection}/{model}"],
    "organise.root": "",
}

#: settings that take one of a few values (key → the values)
CHOICES: dict[str, tuple[str, ...]] = {key: SEVERITIES for key in DEFAULTS if key.startswith(SEVERITY_PREFIX)}


#: Namespaces of the core's own settings: an unknown key in them is a typo, refused.
CORE_PREFIXES = frozenset({"privacy", "retention", "problems", "organise"})

#: Settings that were renamed (old key → new key; migration m016 moved stored values).
RENAMED = {"retention.on_open": "retention.auto"}


@attrs.frozen
class Setting:
    """A setting a plugin owns, given to ``register_settings``'s ``register``.

    :ivar key: ``"<plugin>.<name>"`` (a dot is required; the core's namespaces
        ``privacy.`` and ``retention.`` are refused).
    :ivar default: the value until the user sets one; a bool or int default also
        makes the value's type checked (``true``/``false``, a whole number).
    :ivar description: one line for ``printmanager settings`` and docs.
    :ivar check: called with a new value before it is stored; raises
        :class:`~printmanager_core.errors.UsageError` (one line) to refuse it.
    :ivar plugin: the plugin that registered it (filled in by the core).
    :ivar choices: the only values it takes (None: any of its type).
    :ivar minimum: the smallest number it takes (None: no bound).
    :ivar maximum: the largest number it takes (None: no bound).
    """

    key: str = attrs.field(validator=attrs.validators.instance_of(str))
    default: Any = None
    description: str = ""
    check: Callable[[Any], None] | None = attrs.field(default=None, eq=False, repr=False)
    plugin: str = ""
    choices: tuple[Any, ...] | None = attrs.field(default=None, converter=attrs.converters.optional(tuple))
    minimum: float | None = None
    maximum: float | None = None


def _setting_key(setting: Any) -> str:
    """The registry name of a registered setting; refuses what is not a plugin's :class:`Setting`."""
    if not isinstance(setting, Setting):
        raise UsageError(f"register_settings takes Setting(key, default, ...), not {setting!r}")
    if "." not in setting.key or setting.key in DEFAULTS or setting.key.split(".", 1)[0] in CORE_PREFIXES:
        raise UsageError(f"{setting.key!r} cannot be a plugin's setting (core namespace, or no dot in it)")
    return setting.key


def plugin_settings() -> dict[str, Setting]:
    """Every setting plugins registered (``register_settings``), by key, with the plugin that gave it.

    The core settles clashes (the llm way): the first plugin pluggy calls keeps a
    key, a later one is named in a warning; a plugin that registers a core key or
    something that is not a :class:`Setting` is named and stepped around.
    """
    from .registry import collect

    registry = collect("register_settings", _setting_key)
    found = registry.derived.get("settings")
    if found is None:
        found = registry.derived["settings"] = {
            e.name: attrs.evolve(e.value, plugin=e.plugin) for e in registry
        }
    return dict(found)


def defaults() -> dict[str, Any]:
    """Every known setting's default: the core's and the plugins'."""
    values = {key: s.default for key, s in plugin_settings().items()}
    values.update(DEFAULTS)
    return dict(sorted(values.items()))


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


def parse_for(key: str, text: str) -> Any:
    """:func:`parse_value`, except that a setting with choices takes its choice as written
    (``problems.severity.x off`` is the choice "off", not false)."""
    owned = None if key in DEFAULTS else plugin_settings().get(key)
    choices = CHOICES.get(key) if owned is None else owned.choices
    if choices is not None and text.strip() in choices:
        return text.strip()
    return parse_value(text)


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
        owned = plugin_settings().get(key)
        if owned is not None:
            return owned.default
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
        if key.startswith(SEVERITY_PREFIX):
            # silencing (or un-silencing) a kind changes which files has:problem finds
            from .problems import silenced
            from .store.problems import ProblemsGateway

            with self.db.conn:
                ProblemsGateway(self.db).sync_kinds(silenced(self.all()))

    def all(self) -> dict[str, Any]:
        """Every setting: defaults overlaid with stored values."""
        values = defaults()
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
        owned = None if key in DEFAULTS else plugin_settings().get(key)
        if key not in DEFAULTS and owned is None:
            raise UsageError(_unknown(key))
        default = DEFAULTS[key] if key in DEFAULTS else owned.default if owned else None
        choices = CHOICES.get(key) if owned is None else owned.choices
        if choices is not None:
            if value not in choices or isinstance(value, bool) != any(isinstance(c, bool) for c in choices):
                raise UsageError(f"{key} takes one of {', '.join(map(str, choices))}, not {value!r}")
        if isinstance(default, bool) and not isinstance(value, bool):
            raise UsageError(f"{key} takes true or false, not {value!r}")
        if isinstance(default, int) and not isinstance(default, bool):
            if isinstance(value, bool) or not isinstance(value, int):
                raise UsageError(f"{key} takes a whole number, not {value!r}")
        low, high = (1, None) if key.startswith("retention.") and key.endswith("_days") else (None, None)
        if owned is not None:
            low, high = owned.minimum, owned.maximum
        if low is not None or high is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise UsageError(f"{key} takes a number, not {value!r}")
            if (low is not None and value < low) or (high is not None and value > high):
                span = (f"{low:g}..{high:g}" if low is not None and high is not None
                        else f"at least {low:g}" if low is not None else f"at most {high:g}")
                what = "a number of days of " if key.startswith("retention.") else "a number "
                raise UsageError(f"{key} takes {what}{span}, not {value!r}")
        if owned is not None and owned.check is not None:
            owned.check(value)
        if key == "organise.paths":
            from .organise.templates import check_paths_setting

            check_paths_setting(value)
        if key == "organise.root" and not isinstance(value, str):
            raise UsageError(f"organise.root takes a folder, not {value!r}")


def _unknown(key: str) -> str:
    """The one-line refusal of an unknown setting, with the nearest known key."""
    import difflib

    if key in RENAMED:
        return f"unknown setting {key!r}; it is now {RENAMED[key]!r}"
    known = list(DEFAULTS) + list(plugin_settings())
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else " (`printmanager settings` lists them)"
    return f"unknown setting {key!r}{hint}"
