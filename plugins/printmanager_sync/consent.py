"""Consent: sync is off until the user opts in, and stops when they withdraw.

The privacy switch is the library setting ``privacy.sync``. Every change is
appended to the library's consent ledger by :class:`printmanager_core.settings.Settings`
(when, which policy version, and here: which backend and container). The one
gate is :func:`require`, called by the backend factory before any backend is
built and again before each upload and before the head is moved, so a
withdrawal in another process stops a running sync at its next step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import SyncDisabled

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library

SWITCH = "privacy.sync"


def is_enabled(library: "Library") -> bool:
    """True if the user opted in to sync for this library (and has not withdrawn)."""
    return library.settings.get(SWITCH) is True


def require(library: "Library") -> None:
    """Raise :class:`SyncDisabled` unless sync is enabled."""
    if not is_enabled(library):
        raise SyncDisabled(
            "sync is off for this library: nothing is sent until you opt in with "
            "`printmanager sync enable ... --i-consent`"
        )


def grant(library: "Library", detail: dict[str, Any], *, source: str = "api") -> None:
    """Record consent (appended to the consent ledger) and switch sync on."""
    library.settings.set(SWITCH, True, detail=detail, source=source)


def withdraw(library: "Library", detail: dict[str, Any], *, source: str = "api") -> None:
    """Record the withdrawal (appended to the ledger) and switch sync off at once."""
    library.settings.set(SWITCH, False, detail=detail, source=source)


def history(library: "Library") -> list[dict[str, Any]]:
    """The consent ledger entries of the sync switch, oldest first."""
    return [e for e in library.settings.consent_ledger() if e["switch"] == SWITCH]
