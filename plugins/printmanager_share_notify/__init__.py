"""printmanager's built-in share notices: tell each recipient about a share, with their own link.

Off until the user sets a notifier up; nothing is sent otherwise. The share
plugin calls its ``share_created`` hook after storing a share; this plugin
answers it with one notice per recipient link. Its settings (``notify.*``) are
in ``privacy export``'s settings; the SMTP password is a vault secret, deleted
with the vault by ``privacy delete``. Built in:
``smtp`` (stdlib ``smtplib``, STARTTLS or TLS, the password in the vault). Other
plugins add notifiers with the ``register_share_notifiers`` hook. See
``docs/sharing.md`` ("Share notices").

    from printmanager_share_notify import ShareNotice, send_notices, setup_smtp

    setup_smtp(library, host="smtp.example.org", port=587, user="me", sender="me@example.org",
               password="...")
    send_notices(library, [ShareNotice("ana@example.org", link, sender="Me", files=3)])
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable

from printmanager_core.hookspecs import hookimpl

from .notice import Delivery, Notifier, ShareNotice

if TYPE_CHECKING:  # pragma: no cover
    import click
    import pluggy

    from printmanager_core.library import Library


log = logging.getLogger(__name__)

__all__ = [
    "Delivery",
    "Notifier",
    "ShareNotice",
    "configured_notifiers",
    "notices_for",
    "notifiers",
    "send_notices",
    "setup_smtp",
    "turn_off_smtp",
]

#: the public functions and the module each lives in (imported on first use)
_API = {
    "configured_notifiers": ("api", "configured_notifiers"),
    "notices_for": ("api", "notices_for"),
    "notifiers": ("api", "notifiers"),
    "send_notices": ("api", "send_notices"),
    "setup_smtp": ("smtp", "setup"),
    "turn_off_smtp": ("smtp", "turn_off"),
}


def __getattr__(name: str) -> Any:
    if name in _API:
        import importlib

        module, attr = _API[name]
        return getattr(importlib.import_module(f"{__name__}.{module}"), attr)
    raise AttributeError(f"module 'printmanager_share_notify' has no attribute {name!r}")


@hookimpl
def add_hookspecs(plugin_manager: "pluggy.PluginManager") -> None:
    """Add this plugin's hook specs (``hookspecs.py``) to the plugin manager."""
    from . import hookspecs

    plugin_manager.add_hookspecs(hookspecs)


@hookimpl
def register_share_notifiers(register: "Callable[[Notifier], None]") -> None:
    """The built-in notifier: ``smtp``."""
    from .smtp import SmtpNotifier

    register(SmtpNotifier())


@hookimpl
def register_settings(register: Callable[..., None]) -> None:
    """``notify.smtp.*``: the SMTP server, port, security, user, sender, CA file, on/off."""
    from .smtp import SETTINGS

    for setting in SETTINGS:
        register(setting)


@hookimpl(trylast=True)
def register_commands(cli: "click.Group") -> None:
    """``printmanager share notify ...`` (under the share plugin's ``share`` group when it is loaded).

    ``trylast``: runs after the share plugin has added its group.
    """
    from .cli import attach

    attach(cli)


@hookimpl(optionalhook=True)
def share_created(library: "Library", share: Any, links: Any) -> "list[dict[str, Any]]":
    """Notify each recipient of a new share with their own link (only if a notifier is set up).

    ``optionalhook``: the spec is the share plugin's; without it this is never called.
    Returns one delivery (``recipient``, ``notifier``, ``status``, ``error``) per message.
    """
    from .api import notices_for, send_notices

    deliveries = send_notices(library, notices_for(library, share, links))
    for delivery in deliveries:
        if delivery.status != "sent":
            log.warning("share notice to %s not sent (%s): %s", delivery.recipient, delivery.notifier, delivery.error)
    return [d.as_json() for d in deliveries]
