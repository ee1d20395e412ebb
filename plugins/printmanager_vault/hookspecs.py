"""Hook specifications the vault plugin owns (added with ``pm.add_hookspecs``).

One line each here; the explaining lives in ``docs/plugin_hooks.md``. The plugin
adds them from its ``add_hookspecs`` hook, so they exist only while it is loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from printmanager_core.hookspecs import hookspec

if TYPE_CHECKING:  # pragma: no cover
    from .store import CredentialStore

    #: what ``register`` takes: a factory with a ``name`` that returns a store
    StoreFactory = Callable[[], CredentialStore]


@hookspec
def register_credential_stores(register: "Callable[[StoreFactory], None]") -> None:
    """Register credential-store backends: call ``register(store_factory)``.

    :param register: callback taking a factory with a ``name`` attribute that,
        called with no arguments, returns a
        :class:`printmanager_vault.CredentialStore` (see ``docs/plugin_hooks.md``).
    """
