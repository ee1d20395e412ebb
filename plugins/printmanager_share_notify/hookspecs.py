"""Hook specifications the share-notices plugin owns (added with ``pm.add_hookspecs``).

One line each here; the explaining lives in ``docs/plugin_hooks.md``. The plugin
adds them from its ``add_hookspecs`` hook, so they exist only while it is loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from printmanager_core.hookspecs import hookspec

if TYPE_CHECKING:  # pragma: no cover
    from .notice import Notifier


@hookspec
def register_share_notifiers(register: "Callable[[Notifier], None]") -> None:
    """Register ways to tell a recipient about a share: call ``register(notifier)``.

    :param register: callback taking a :class:`printmanager_notify.Notifier`
        (``name``, ``configured(library)``, ``send(library, notices)``; see
        ``docs/plugin_hooks.md``).
    """
