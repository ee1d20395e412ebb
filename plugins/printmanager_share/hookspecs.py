"""Hook specifications the share plugin owns (added with ``pm.add_hookspecs``).

One line each here; the explaining lives in ``docs/plugin_hooks.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from printmanager_core.hookspecs import hookspec

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library

    from .model import RecipientLink, Share


@hookspec
def share_created(library: "Library", share: "Share", links: "list[RecipientLink]") -> None:
    """A share was stored: notify its recipients (one message per link, each with its own ``url``).

    :param library: the sharer's library.
    :param share: the :class:`printmanager_share.model.Share` just stored.
    :param links: one :class:`printmanager_share.model.RecipientLink` per recipient, with ``url``.
    """
