"""Sync backends: the registry (``register_sync_backends`` hook) and the one factory.

:func:`open_backend` is the only way the sync plugin builds a backend, and it
refuses unless the user opted in (``privacy.sync``). The single exception is
``purpose="erase"``: deleting the user's remote data at their explicit request
(``sync disable --delete-remote`` or the privacy "delete everything" call).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from printmanager_core.registry import Registry, collect

from .. import consent
from ..errors import NotConfigured, SyncError
from .base import Backend, ObjectInfo, SourceFile, UploadSource

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library

__all__ = ["Backend", "ObjectInfo", "SourceFile", "UploadSource", "backend_registry", "open_backend"]

PURPOSES = ("sync", "erase")


def backend_registry() -> Registry[Any]:
    """Backends registered through ``register_sync_backends``: name -> factory."""
    return collect("register_sync_backends", lambda name, factory: name)


def open_backend(library: "Library", config: dict[str, Any] | None, *, purpose: str = "sync") -> Backend:
    """Build the configured backend; refuses without consent (see module docstring).

    :param config: ``{"backend": name, ...options}`` (no secrets).
    :param purpose: ``"sync"`` (needs consent) or ``"erase"`` (deleting at the user's request).
    """
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {PURPOSES}")
    if purpose == "sync":
        consent.require(library)
    if not config or not config.get("backend"):
        raise NotConfigured("no sync backend configured: run `printmanager sync enable ...` first")
    registry = backend_registry()
    name = str(config["backend"])
    if name not in registry:
        raise SyncError(f"unknown sync backend {name!r} (known: {', '.join(registry.names()) or 'none'})")
    return registry.get(name)(config, library)
