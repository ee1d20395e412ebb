"""Opting in and out: enable, disable, erase the remote copy, and the local status."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from printmanager_core.settings import now_iso

from . import consent, credentials
from . import format as fmt
from .backends import open_backend
from .errors import NotConfigured, SyncDisabled, SyncError
from .journal import Journal
from .repository import Repository, delete_user_objects
from .session import LEDGER_KEYS, Prompt, ledger_detail, passphrase_source
from .state import SyncState

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library


def enable(
    library: "Library",
    config: dict[str, Any],
    *,
    consent_given: bool,
    passphrase: str | None = None,
    prompt: Prompt | None = None,
    user: str | None = None,
    source: str = "api",
    scrypt_n: int | None = None,
) -> dict[str, Any]:
    """Opt in: record consent, then create (or join) the user's repository in the backend.

    :param config: ``{"backend": "folder", "path": ...}`` or ``{"backend": "s3", "endpoint", "bucket", "region"?}``.
    :param consent_given: the user said yes (``--i-consent`` or an interactive yes); required.
    :param user: the user id (the container prefix); default: the one configured before, else random.
    :returns: :func:`status`.
    """
    if not consent_given:
        raise SyncDisabled("sync not enabled: it needs your consent (--i-consent, or answer yes)")
    if not config.get("backend"):
        raise SyncError("choose a backend (--backend folder|s3)")
    state = SyncState(library)
    previous = state.config or {}
    if config.get("credentials"):
        # Short-lived credentials from a source (the printmanager service): it says where they
        # are good for (endpoint, bucket, the user's prefix) before anything is recorded or sent.
        from .storage_credentials import scoped_target

        config, user = scoped_target(config, library, user)
    user = fmt.check_user_id(user or previous.get("user") or os.urandom(8).hex())
    new_config = {**config, "user": user}
    same_place = {k: previous.get(k) for k in LEDGER_KEYS} == {k: new_config.get(k) for k in LEDGER_KEYS}
    consent.grant(library, ledger_detail(new_config, action="enable"), source=source)
    try:
        backend = open_backend(library, new_config)
        try:
            if Repository.exists(backend, user):
                repo = Repository.open(backend, user, passphrase_source(passphrase, prompt))
                created = False
            else:
                repo = Repository.init(backend, user, passphrase_source(passphrase, prompt)(), scrypt_n=scrypt_n)
                created = True
            cache = repo.cache_blob()
        finally:
            backend.close()
    except BaseException as exc:
        consent.withdraw(library, ledger_detail(new_config, action="enable failed", reason=str(exc)[:200]), source=source)
        raise
    previous_repo = (state.get("repo_cache") or {}).get("config", {}).get("repo_id")
    if not same_place or created or previous_repo != repo.config.get("repo_id"):
        # Another container, or a repository created anew in this one (the old one was deleted):
        # nothing this library remembers (last snapshot, object ids under the old key) holds there.
        state.clear()
    state.update({"config": new_config, "repo_cache": cache, "enabled_at": now_iso(), "created": created})
    credentials.cache_master_key(library, user, repo.keys.master)
    return status(library)


def disable(library: "Library", *, delete_remote: bool = False, source: str = "api") -> dict[str, Any]:
    """Withdraw consent (sync stops at once; local files stay); optionally erase the remote copy.

    :returns: ``{"enabled": False, "remote_objects_deleted": n or None}``.
    """
    state = SyncState(library)
    config = state.config
    if config is None and not consent.is_enabled(library):
        raise NotConfigured("sync is not set up for this library")
    consent.withdraw(library, ledger_detail(config or {}, action="disable", delete_remote=delete_remote), source=source)
    deleted = None
    if delete_remote and config:
        deleted = erase_remote(library)
    if config:
        credentials.forget_master_key(library, str(config.get("user")))
    return {"enabled": False, "remote_objects_deleted": deleted}


def erase_remote(library: "Library") -> int:
    """Delete every object under the user's prefix (needs no passphrase) and the local sync state
    that described it; the configuration stays. Allowed without consent: it is the user's
    explicit request to delete their data."""
    state = SyncState(library)
    config = state.config
    if not config:
        raise NotConfigured("no sync backend configured")
    backend = open_backend(library, config, purpose="erase")
    try:
        count = delete_user_objects(backend, str(config["user"]))
    finally:
        backend.close()
    state.clear()
    state.set("config", config)
    import shutil

    from .session import page_cache_dir

    shutil.rmtree(page_cache_dir(library), ignore_errors=True)  # pages of the erased snapshots
    return count


# -- status ------------------------------------------------------------------------


def status(library: "Library") -> dict[str, Any]:
    """Local sync status: no network is used."""
    state = SyncState(library)
    config = state.config
    last = state.get("last") or {}
    history = consent.history(library)
    journal = Journal(library.db_path)
    try:
        pending = len(journal.open_uploads())
    finally:
        journal.close()
    return {
        "enabled": consent.is_enabled(library),
        "configured": config is not None,
        "backend": {k: v for k, v in (config or {}).items() if k in LEDGER_KEYS},
        "user": (config or {}).get("user"),
        "device": state.get("device"),
        "last_sync": last.get("time"),
        "snapshot": last.get("snapshot"),
        "files": last.get("files"),
        "bytes": last.get("bytes"),
        "pending_uploads": pending,
        "consent": history[-1] if history else None,
    }
