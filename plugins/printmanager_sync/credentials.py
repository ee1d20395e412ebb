"""Where sync gets its secrets: the vault plugin when there is one, else the environment.

* S3 credentials: vault secrets ``sync.s3.access_key_id``,
  ``sync.s3.secret_access_key`` (and optional ``sync.s3.session_token``), else
  ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``.
* The repository passphrase: ``PRINTMANAGER_SYNC_PASSPHRASE``, else a prompt.
* The unwrapped master key is cached in the vault (``sync.master_key.<user>``)
  when the library has a vault, so ``sync now`` needs no passphrase each time.

The vault plugin is imported lazily; sync works without it.
"""

from __future__ import annotations

import base64
import logging
import os
import sys
from typing import TYPE_CHECKING, Any, Callable

from .errors import SyncError

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library

    from .s3client import Credentials

log = logging.getLogger(__name__)

PASSPHRASE_ENV = "PRINTMANAGER_SYNC_PASSPHRASE"
SECRET_ACCESS_KEY_ID = "sync.s3.access_key_id"
SECRET_SECRET_ACCESS_KEY = "sync.s3.secret_access_key"
SECRET_SESSION_TOKEN = "sync.s3.session_token"


def _vault(library: "Library") -> Any:
    """The library's vault if the vault plugin is installed and a vault exists, else None."""
    try:
        import printmanager_vault
    except ImportError:
        return None
    open_vault = getattr(printmanager_vault, "open_vault", None)
    if open_vault is None:
        return None
    try:
        vault = open_vault(library)
        return vault if vault.exists() else None
    except Exception as exc:  # a damaged or unusable vault: fall back to the environment
        log.warning("vault not usable for sync: %s", exc)
        return None


def vault_secrets(library: "Library", *names: str) -> dict[str, str]:
    """The secrets among ``names`` that the vault holds (one unlock for all of them)."""
    vault = _vault(library)
    if vault is None:
        return {}
    found: dict[str, str] = {}
    try:
        with vault.unlocked():
            for name in names:
                if name in vault.names():
                    found[name] = vault.get(name)
    except Exception as exc:  # locked, damaged, wrong key: fall back to the environment
        log.warning("could not read sync secrets from the vault: %s", exc)
    return found


def s3_credentials(library: "Library") -> "Credentials":
    """S3 credentials from the vault, else from the AWS environment variables."""
    from .s3client import Credentials  # the S3 stack loads only when S3 is really used
    found = vault_secrets(library, SECRET_ACCESS_KEY_ID, SECRET_SECRET_ACCESS_KEY, SECRET_SESSION_TOKEN)
    if found.get(SECRET_ACCESS_KEY_ID) and found.get(SECRET_SECRET_ACCESS_KEY):
        return Credentials(found[SECRET_ACCESS_KEY_ID], found[SECRET_SECRET_ACCESS_KEY],
                           found.get(SECRET_SESSION_TOKEN) or None)  # fmt: skip
    key_id, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if key_id and secret:
        return Credentials(key_id, secret, os.environ.get("AWS_SESSION_TOKEN") or None)
    raise SyncError(
        "no S3 credentials: run `printmanager secrets set sync.s3.access_key_id` and "
        "`... sync.s3.secret_access_key`, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )


def require_terminal() -> None:
    """Raise a one-line :class:`SyncError` naming ``PRINTMANAGER_SYNC_PASSPHRASE`` when there is
    no terminal to ask for the passphrase on (cron, a service, a pipe), as the vault does."""
    if sys.platform != "win32":
        try:
            fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
        except OSError:
            raise SyncError(
                f"the sync passphrase is needed and there is no terminal to ask on; set {PASSPHRASE_ENV}"
            ) from None
        os.close(fd)
    elif not sys.stdin or not sys.stdin.isatty():
        raise SyncError(f"the sync passphrase is needed and there is no console to ask on; set {PASSPHRASE_ENV}")


def passphrase(prompt: Callable[[], str] | None = None) -> str:
    """The repository passphrase: ``$PRINTMANAGER_SYNC_PASSPHRASE``, else ``prompt()``."""
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value
    if prompt is not None:
        value = prompt()
        if value:
            return value
    raise SyncError(f"the sync passphrase is needed: set {PASSPHRASE_ENV} or run interactively")


def _master_key_name(user: str) -> str:
    return f"sync.master_key.{user}"


def cached_master_key(library: "Library", user: str) -> bytes | None:
    """The master key cached in the vault for ``user``, or None."""
    text = vault_secrets(library, _master_key_name(user)).get(_master_key_name(user))
    if not text:
        return None
    try:
        key = base64.b64decode(text, validate=True)
    except ValueError:
        return None
    return key if len(key) == 32 else None


def cache_master_key(library: "Library", user: str, master: bytes) -> bool:
    """Cache the master key in the library's vault (only if it has one); True if cached."""
    vault = _vault(library)
    if vault is None:
        return False
    try:
        vault.set(_master_key_name(user), base64.b64encode(master).decode("ascii"))
        return True
    except Exception as exc:
        log.warning("could not cache the sync key in the vault: %s", exc)
        return False


def forget_master_key(library: "Library", user: str) -> bool:
    """Remove the cached master key from the vault; True if one was removed."""
    vault = _vault(library)
    if vault is None:
        return False
    try:
        return bool(vault.delete(_master_key_name(user), missing_ok=True))
    except Exception as exc:
        log.warning("could not remove the sync key from the vault: %s", exc)
        return False
