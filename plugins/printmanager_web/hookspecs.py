"""Hook specifications the web plugin owns (added with ``pm.add_hookspecs``).

One line each here; the explaining lives in ``docs/plugin_hooks.md``. The plugin
adds them from its ``add_hookspecs`` hook, so they exist only while it is loaded.
"""

from __future__ import annotations

from typing import Callable

from printmanager_core.hookspecs import hookspec


@hookspec
def register_routes(register: Callable[..., None]) -> None:
    """Add routes to the web app of ``printmanager serve``: call ``register(route)``.

    :param register: callback taking a Starlette ``Route`` or ``Mount`` (its
        ``path`` is its name); the app's guards (token, CSRF, read-only) apply to it
        (see ``docs/plugin_hooks.md``).
    """
