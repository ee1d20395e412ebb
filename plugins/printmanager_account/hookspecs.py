"""Hook specifications the account plugin owns (added with ``pm.add_hookspecs``).

One line each here; the explaining lives in ``docs/plugin_hooks.md``.
"""

from __future__ import annotations

from typing import Callable

from printmanager_core.hookspecs import hookspec


@hookspec
def register_identity_providers(register: Callable[..., None]) -> None:
    """Add identity providers for ``printmanager account``: call ``register(name, factory)``.

    :param register: callback taking a provider name and a factory
        ``factory(url: str, anon_key: str, **options) -> IdentityProvider``.
    """



@hookspec
def register_entitlement_sources(register: Callable[..., None]) -> None:
    """Add sources of the signed subscription claims: call ``register(name, factory)``.

    :param register: callback taking a source name and a factory ``factory()`` returning an
        object whose ``fetch(context)`` gives a signed :class:`printmanager_account.entitlement.Evidence`
        or None (see ``docs/plugin_hooks.md``).
    """
