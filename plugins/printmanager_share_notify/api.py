"""Sending share notices through every notifier the user set up."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from printmanager_core.registry import Registry, collect

from .notice import Delivery, Notifier, ShareNotice

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library


def notifiers() -> Registry[Notifier]:
    """Every registered notifier, by name (``register_share_notifiers``)."""
    return collect("register_share_notifiers", lambda notifier: notifier.name)


def configured_notifiers(library: "Library") -> list[Notifier]:
    """The notifiers the user set up for ``library``, by name."""
    found = []
    for entry in notifiers():
        try:
            if entry.value.configured(library):
                found.append(entry.value)
        except Exception:  # a notifier that cannot tell is not set up
            continue
    return sorted(found, key=lambda n: n.name)


def send_notices(library: "Library", notices: Iterable[ShareNotice]) -> list[Delivery]:
    """Give each notice to every configured notifier; one :class:`Delivery` per notice and notifier.

    With no notifier set up nothing is sent and the list is empty: notices are
    off until the user configures one (``printmanager share notify setup``).
    """
    batch = list(notices)
    deliveries: list[Delivery] = []
    if not batch:
        return deliveries
    for notifier in configured_notifiers(library):
        try:
            deliveries.extend(notifier.send(library, batch))
        except Exception as exc:  # a notifier that breaks fails its notices, not the share
            reason = " ".join(str(exc).split()) or type(exc).__name__
            deliveries.extend(Delivery(n.recipient, notifier.name, "failed", reason) for n in batch)
    return deliveries


def notices_for(library: "Library", share: Any, links: Iterable[Any]) -> list[ShareNotice]:
    """One notice per recipient link of ``share`` (the share plugin's ``Share`` and ``RecipientLink``s).

    Each notice carries only that recipient's ``url``; the password of a password
    share is never in it (the sharer gives it another way). Links without an
    email address (a link made for nobody in particular) get no notice.
    """
    sender = _sender_name(library)
    notices = []
    for link in links:
        address = getattr(link, "recipient", None)
        if not address or "@" not in str(address):
            continue
        notices.append(ShareNotice(
            str(address), str(link.url), sender=sender, files=int(getattr(share, "file_count", 0) or 0),
            size=getattr(share, "total_size", None), expires_at=getattr(share, "expires_at", None),
            max_opens=getattr(share, "max_opens", None), password=bool(getattr(share, "password", False)),
            note=str(getattr(share, "message", "") or ""),
        ))  # fmt: skip
    return notices


def _sender_name(library: "Library") -> str:
    """How the recipient knows the sharer: ``notify.sender_name``, else the From address."""
    for key in ("notify.sender_name", "notify.smtp.from"):
        try:
            value = library.settings.get(key)
        except Exception:
            continue
        if value:
            return str(value)
    return ""
