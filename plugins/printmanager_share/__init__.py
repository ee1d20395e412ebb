"""printmanager's built-in share plugin: end-to-end encrypted share links.

A share is a separate bundle (never the sync repository), encrypted in the
**age** format to a fresh per-share key that travels only in the link's
``#fragment`` (and to recipients' own age keys where known), with a manifest
signed by the sharer. It is stored in the user's own container (the sync
plugin's backends) under ``shares/`` and served by the gateway: routes in
``printmanager serve`` or a standalone ASGI app beside the bucket. See
``docs/sharing.md``.

The Python API (imported lazily)::

    from printmanager_share import enable, create_share, list_shares, share_log, revoke, open_link
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from printmanager_core.hookspecs import hookimpl

if TYPE_CHECKING:  # pragma: no cover
    from datetime import datetime

    import click
    import pluggy

    from printmanager_core.library import Library
    from printmanager_core.privacy.delete import DeleteReport
    from printmanager_core.privacy.export import Export
    from printmanager_core.privacy.retention import RetentionReport

__all__ = ["create_gateway_app", "create_share", "disable", "enable", "get_share", "list_shares", "open_link",
           "revoke", "set_recipient_key", "share_log", "status"]

_API = {
    "create_gateway_app": "gateway",
    "create_share": "api",
    "disable": "api",
    "enable": "api",
    "get_share": "api",
    "list_shares": "api",
    "open_link": "reader",
    "revoke": "api",
    "set_recipient_key": "api",
    "share_log": "api",
    "status": "api",
}


def __getattr__(name: str) -> Any:
    if name in _API:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_API[name]}"), name)
    raise AttributeError(f"module 'printmanager_share' has no attribute {name!r}")


@hookimpl
def add_hookspecs(plugin_manager: "pluggy.PluginManager") -> None:
    """Add this plugin's hook specs (``share_created``)."""
    from . import hookspecs

    plugin_manager.add_hookspecs(hookspecs)


@hookimpl
def register_commands(cli: "click.Group") -> None:
    """``printmanager share ...``."""
    from .cli import share

    cli.add_command(share)


@hookimpl
def register_migrations(register: Callable[..., None]) -> None:
    """The plugin's tables ``share_bundle*`` (migration set ``share``, :mod:`.schema`)."""
    from .schema import migrations

    register(migrations)


@hookimpl
def register_settings(register: Callable[..., None]) -> None:
    """``share.gateway``, ``share.log_ip`` and ``share.thumbnails``."""
    from .schema import SETTINGS

    for setting in SETTINGS:
        register(setting)


@hookimpl
def register_routes(register: Callable[..., None]) -> None:
    """The gateway's ``/s/...`` routes in ``printmanager serve``."""
    from .gateway import serve_routes

    for route in serve_routes():
        register(route)


@hookimpl
def apply_retention(library: "Library", report: "RetentionReport", now: "datetime | None") -> None:
    """Expired shares' bundles are deleted from the container."""
    from .api import apply_retention as apply_impl
    from .store import ShareStore

    if not ShareStore(library.store.db).bundles():
        return
    for what, count in apply_impl(library, now).items():
        report.removed[what] = report.removed.get(what, 0) + count


@hookimpl
def export_user_data(library: "Library", export: "Export") -> None:
    """``shares_bundles.json``: every share, its links (no tokens), recipients' keys, consent history."""
    from .api import export_json

    export.add_json("share_bundles.json", export_json(library),
                    "Encrypted shares: bundles, their links (no tokens or keys), recipients' age keys, consent")


@hookimpl(tryfirst=True)
def delete_user_data(library: "Library", report: "DeleteReport") -> None:
    """Every share's objects in the container, the plugin's rows and the sharer's keys.

    ``tryfirst``: runs while the vault still holds the S3 credentials and keys.
    """
    from .api import delete_everything
    from .store import ShareStore

    if not ShareStore(library.store.db).bundles() and not ShareStore(library.store.db).recipient_keys():
        return
    for what, count in delete_everything(library).items():
        report.removed(what, count)
