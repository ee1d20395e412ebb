"""Consent: nothing is shared until the user opts in (the ``privacy.share`` switch).

Like sync (``privacy.sync``): every change is appended to the library's consent
ledger with which container the shares go to. :func:`require` is asked before a
bundle is uploaded; revoking and deleting are always allowed (they only remove).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import SharingDisabled

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library

SWITCH = "privacy.share"
#: container keys recorded in the ledger (never secrets)
LEDGER_KEYS = ("backend", "path", "endpoint", "bucket", "region", "credentials", "prefix")


def is_enabled(library: "Library") -> bool:
    """True if the user opted in to sharing for this library."""
    return library.settings.get(SWITCH) is True


def require(library: "Library") -> None:
    """Raise :class:`SharingDisabled` unless sharing is on."""
    if not is_enabled(library):
        raise SharingDisabled(
            "sharing is off for this library: nothing is uploaded until you opt in with "
            "`printmanager share enable ... --i-consent`"
        )


def ledger_detail(config: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """What the ledger records of a container (no secrets)."""
    return {**{k: config[k] for k in LEDGER_KEYS if k in config}, **extra}


def grant(library: "Library", config: dict[str, Any], *, source: str = "api") -> None:
    """Record consent for ``config``'s container and switch sharing on."""
    library.settings.set(SWITCH, True, detail=ledger_detail(config, action="enable"), source=source)


def withdraw(library: "Library", config: dict[str, Any], *, source: str = "api") -> None:
    """Record the withdrawal and switch sharing off."""
    library.settings.set(SWITCH, False, detail=ledger_detail(config, action="disable"), source=source)


def history(library: "Library") -> list[dict[str, Any]]:
    """The ledger entries of the share switch, oldest first."""
    return [e for e in library.settings.consent_ledger() if e["switch"] == SWITCH]
