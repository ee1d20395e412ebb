"""The sync plugin's part of "export everything" and "delete everything" (PROMISE 6)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import consent, credentials
from .errors import SyncError
from .state import SyncState

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library

#: configuration keys safe to export (no secrets are ever stored in the config)
EXPORTED_KEYS = ("backend", "path", "endpoint", "bucket", "region", "user")


def export_user_data(library: "Library", export: Any) -> None:
    """Always ``sync.json`` (configuration, consent history, last sync); with
    ``export.include_cloud`` and sync enabled, the newest snapshot's files under ``cloud/``."""
    state = SyncState(library)
    config = state.config or {}
    last = state.get("last") or {}
    info: dict[str, Any] = {
        "configured": bool(config),
        "enabled": consent.is_enabled(library),
        "config": {k: config[k] for k in EXPORTED_KEYS if k in config},
        "device": state.get("device"),
        "last_sync": {k: last.get(k) for k in ("time", "snapshot", "files", "bytes")} if last else None,
        "consent": consent.history(library),
    }
    if getattr(export, "include_cloud", False):
        if not config or not consent.is_enabled(library):
            info["cloud_files"] = {"exported": 0, "note": "sync is off: nothing was downloaded"}
        else:
            from .rebuild import export_cloud

            try:
                count = export_cloud(
                    library, lambda arcname, path: export.add_file(arcname, path, "A file from the sync container")
                )
                info["cloud_files"] = {"exported": count, "folder": "cloud/"}
            except SyncError as exc:
                info["cloud_files"] = {"exported": None, "error": str(exc)}
    export.add_json("sync.json", info, "Sync configuration (no secrets), consent history and last sync")


def delete_user_data(library: "Library", report: Any) -> None:
    """Delete every remote object under the user's prefix (sync enabled or merely configured),
    then the local sync state. A failure to reach the container raises, so the core keeps the
    index (and with it the configuration needed to try again)."""
    state = SyncState(library)
    config = state.config
    if config:
        from .lifecycle import erase_remote

        count = erase_remote(library)
        report.removed("remote objects", count, detail=f"{config.get('backend')} container, user {config.get('user')}")
        credentials.forget_master_key(library, str(config.get("user")))
    rows = state.clear()
    if rows:
        report.removed("local sync state", rows)
