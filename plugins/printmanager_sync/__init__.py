"""printmanager's built-in sync plugin: opt-in, end-to-end encrypted cloud sync.

Two backends, ``folder`` (a directory: a mounted drive, a NAS, a Dropbox folder)
and ``s3`` (Cloudflare R2, AWS S3, MinIO). Nothing is sent until the user opts
in (the ``privacy.sync`` switch, recorded in the consent ledger). Contents,
names, paths and tags are encrypted on this machine; the storage provider sees
only random-looking objects named by keyed hashes. See ``docs/sync.md``.

The Python API (imported lazily, so loading the plugin costs nothing)::

    from printmanager_sync import enable, sync_now, status, check, disable, restore

    enable(library, {"backend": "folder", "path": "/mnt/nas/prints-sync"}, consent_given=True,
           passphrase="correct horse battery staple")
    report = sync_now(library)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from printmanager_core.hookspecs import hookimpl

if TYPE_CHECKING:  # pragma: no cover
    import click
    import pluggy

    from printmanager_core.library import Library
    from printmanager_core.privacy.delete import DeleteReport
    from printmanager_core.privacy.export import Export
    from printmanager_core.records import FileRecord

    from .hookspecs import BackendFactory

__all__ = [
    "check",
    "disable",
    "enable",
    "erase_remote",
    "restore",
    "status",
    "sync_now",
]

#: the public functions and the module each lives in
_API = {
    "check": "verify",
    "disable": "lifecycle",
    "enable": "lifecycle",
    "erase_remote": "lifecycle",
    "restore": "rebuild",
    "status": "lifecycle",
    "sync_now": "engine",
}


def __getattr__(name: str) -> Any:
    if name in _API:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_API[name]}"), name)
    raise AttributeError(f"module 'printmanager_sync' has no attribute {name!r}")


def _folder_backend(config: dict[str, Any], library: "Library") -> Any:
    from .backends.folder import folder_factory

    return folder_factory(config, library)


def _s3_backend(config: dict[str, Any], library: "Library") -> Any:
    from .backends.s3 import s3_factory

    return s3_factory(config, library)


@hookimpl
def add_hookspecs(plugin_manager: "pluggy.PluginManager") -> None:
    """Add this plugin's hook specs (``hookspecs.py``) to the plugin manager."""
    from . import hookspecs

    plugin_manager.add_hookspecs(hookspecs)


@hookimpl
def register_sync_backends(register: "Callable[[str, BackendFactory], None]") -> None:
    """The built-in backends: ``folder`` and ``s3``."""
    register("folder", _folder_backend)
    register("s3", _s3_backend)


@hookimpl
def register_commands(cli: "click.Group") -> None:
    """``printmanager sync ...``."""
    from .cli import sync

    cli.add_command(sync)


@hookimpl
def export_user_data(library: "Library", export: "Export") -> None:
    """The sync configuration (never secrets) and, if asked, the user's files from the cloud."""
    from .privacy import export_user_data as export_impl

    export_impl(library, export)


@hookimpl(tryfirst=True)
def delete_user_data(library: "Library", report: "DeleteReport") -> None:
    """Every remote object under the user's prefix, then the local sync state.

    ``tryfirst``: runs while the vault still holds the S3 credentials.
    """
    from .privacy import delete_user_data as delete_impl

    delete_impl(library, report)


@hookimpl
def file_moved(library: "Library", file: "FileRecord", old_path: str) -> None:
    """A file ``organise`` moved keeps its cached object id (``sync_files``) under its new
    path: the next ``sync now`` neither reads it again nor uploads it."""
    from .state import carry_file_id

    carry_file_id(library, file, old_path)


@hookimpl
def register_settings(register: Callable[..., None]) -> None:
    """The plugin's settings: ``sync.inventory_hours`` (see :mod:`.schema`)."""
    from .schema import SETTINGS

    for setting in SETTINGS:
        register(setting)


@hookimpl
def register_migrations(register: Callable[..., None]) -> None:
    """The plugin's tables ``sync_*`` (migration set ``sync``, :mod:`.schema`)."""
    from .schema import migrations

    register(migrations)
