"""An open repository for one library: backend, keys and upload journal.

Every sync operation that needs the container goes through :func:`open_session`,
which builds the backend with :func:`printmanager_sync.backends.open_backend` —
the one place that checks consent.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from . import consent, credentials
from .catalogue import Catalogue
from .backends import open_backend
from .backends.base import Backend
from .errors import NotConfigured, SyncError
from .journal import Journal
from .repository import Repository
from .state import SyncState

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library

Prompt = Callable[[], str]

#: config keys recorded in the consent ledger and shown by ``status`` (never secrets)
LEDGER_KEYS = ("backend", "path", "endpoint", "bucket", "region", "credentials", "user")


class Session:
    """An open repository for one library: the library and its catalogue (as sync sees it),
    the local sync state, the backend, the repository's keys and the upload journal.

    Everything a sync, a pull or a restore does reaches the library through its session.
    """

    def __init__(self, library: "Library", state: SyncState, backend: Backend, repo: Repository):
        self.library = library
        self.catalogue = Catalogue(library)
        self.state = state
        self.backend = backend
        self.repo = repo
        self.journal = Journal(library.db_path)

    def tmp_dir(self) -> Path:
        """``<library>/sync/tmp`` (created)."""
        return tmp_dir(self.library)

    def close(self) -> None:
        self.journal.close()
        self.backend.close()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def requests(self) -> int | None:
        """HTTP requests sent so far (None for backends that are not HTTP)."""
        client = getattr(self.backend, "client", None)
        return client.stats.total if client is not None else None


def passphrase_source(passphrase: str | None, prompt: Prompt | None) -> Prompt:
    """A callable giving the passphrase: ``passphrase``, else the environment, else ``prompt()``."""

    def get() -> str:
        return passphrase or credentials.passphrase(prompt)

    return get


def open_session(
    library: "Library",
    *,
    passphrase: str | None = None,
    prompt: Prompt | None = None,
    purpose: str = "sync",
    fresh: bool = False,
) -> Session:
    """Open the configured repository (the backend factory checks consent).

    :param fresh: read the config and key files from the container and unwrap the key with
        the passphrase, ignoring local caches (``check`` does, to verify them).
    """
    state = SyncState(library)
    config = state.config
    if not config:
        if purpose == "sync":
            consent.require(library)
        raise NotConfigured("no sync backend configured: run `printmanager sync enable ...` first")
    backend = open_backend(library, config, purpose=purpose)
    try:
        user = str(config["user"])
        master = None if fresh else credentials.cached_master_key(library, user)
        repo = Repository.open(
            backend, user, passphrase_source(passphrase, prompt), master=master,
            cached=None if fresh else state.get("repo_cache"),
        )  # fmt: skip
        if master is None:
            credentials.cache_master_key(library, user, repo.keys.master)
        if not fresh:
            repo.page_cache = page_cache_dir(library)
    except BaseException:
        backend.close()
        raise
    return Session(library, state, backend, repo)


def ledger_detail(config: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """What a consent-ledger entry records about the backend (never secrets), plus ``extra``."""
    detail = {k: config[k] for k in LEDGER_KEYS if config.get(k)}
    detail.update(extra)
    return detail


class SyncLock:
    """One sync at a time per library: ``<library>/sync/lock`` holds the running process's id.

    A lock whose process is gone (or, where that cannot be asked, older than a day) is stale
    and taken over.
    """

    def __init__(self, library: "Library"):
        self.path = library.directory / "sync" / "lock"

    @staticmethod
    def _alive(pid: int) -> bool:
        if os.name == "nt":  # no cheap liveness check: trust the lock's age instead
            return True
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def __enter__(self) -> "SyncLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _attempt in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            except FileExistsError:
                try:
                    pid = int(self.path.read_text().strip() or "0")
                    age = time.time() - self.path.stat().st_mtime
                except (OSError, ValueError):
                    pid, age = 0, 0.0
                if pid and self._alive(pid) and age < 86400:
                    raise SyncError(f"another sync of this library is running (process {pid})") from None
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            return self
        raise SyncError(f"could not take the sync lock {self.path}")

    def __exit__(self, *exc: object) -> None:
        self.path.unlink(missing_ok=True)


def tmp_dir(library: "Library") -> Path:
    """``<library>/sync/tmp``, for database backups and downloads in progress (created)."""
    path = library.directory / "sync" / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


def page_cache_dir(library: "Library") -> Path:
    """``<library>/sync/pages``: snapshot pages read or written, kept encrypted as stored."""
    return library.directory / "sync" / "pages"
