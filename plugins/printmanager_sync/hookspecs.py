"""Hook specifications the sync plugin owns (added with ``pm.add_hookspecs``).

One line each here; the explaining lives in ``docs/plugin_hooks.md``. The plugin
adds them from its ``add_hookspecs`` hook, so they exist only while it is loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from printmanager_core.hookspecs import hookspec

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library

    from .backends.base import Backend

    #: what ``register`` takes second: ``factory(config, library) -> backend``
    BackendFactory = Callable[[dict[str, Any], Library], Backend]


@hookspec
def register_sync_backends(register: "Callable[[str, BackendFactory], None]") -> None:
    """Register sync backends: call ``register(name, backend_factory)``.

    :param register: callback taking a backend name and a factory
        ``factory(config, library)`` returning a
        :class:`printmanager_sync.backends.Backend` (see ``docs/plugin_hooks.md``).
    """


@hookspec
def register_storage_credential_sources(register: "Callable[[str, Callable[..., Any]], None]") -> None:
    """Register sources of short-lived, user-scoped S3 credentials: call ``register(name, factory)``.

    :param register: callback taking a source name and a factory ``factory(config, library)``
        returning an object whose ``fetch()`` gives a
        :class:`printmanager_sync.storage_credentials.TemporaryCredentials` (see ``docs/plugin_hooks.md``).
    """
