"""The ``account`` storage credential source: short-lived storage credentials from the service.

Sync (and share, through sync's backends) asks for it with ``{"backend": "s3",
"credentials": "account"}``. Building the source checks the subscription
(:func:`.entitlement.require_entitlement` for ``hosted_storage``) — the one place hosted
storage is gated; every :meth:`AccountStorageSource.fetch` sends the signed-in user's
access token to ``POST <url>/functions/v1/storage-credentials`` and gets STS-style
credentials scoped to the user's prefix. They are handed to sync and kept only in memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .entitlement import HOSTED_STORAGE, require_entitlement

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library
    from printmanager_sync.storage_credentials import TemporaryCredentials

    from .session import Session


class AccountStorageSource:
    """Temporary storage credentials for the signed-in user of ``library``."""

    def __init__(self, library: "Library", session: "Session | None" = None) -> None:
        from .entitlement import _open_session

        self.library = library
        self.session = session or _open_session(library)
        with self.session.vault.unlocked():
            require_entitlement(library, HOSTED_STORAGE, session=self.session)

    def fetch(self) -> "TemporaryCredentials":
        """Ask the service for a fresh set (uses the network: the access token, maybe a refresh)."""
        from printmanager_sync.errors import SyncError
        from printmanager_sync.storage_credentials import TemporaryCredentials

        from .errors import AccountError
        from .service import ServiceClient

        try:
            with self.session.vault.unlocked():
                tokens = self.session.access_token()
                provider = self.session.provider()
            client = ServiceClient(provider.url, provider.anon_key)
            try:
                data = client.storage_credentials(tokens.access_token)
            finally:
                client.close()
        except AccountError as exc:
            raise SyncError(f"no storage credentials from the printmanager service: {exc}") from None
        scope: dict[str, Any] = {key.lower(): data.get(key) for key in ("Endpoint", "Bucket", "Region", "Prefix")}
        return TemporaryCredentials.from_sts(data, **{k: (str(v) if v else None) for k, v in scope.items()})


def account_storage_source(config: dict[str, Any], library: "Library | None") -> AccountStorageSource:
    """The ``register_storage_credential_sources`` factory for ``account``."""
    from printmanager_sync.errors import SyncError

    from .errors import AccountError

    if library is None:
        raise SyncError("hosted storage credentials need a library with a signed-in account")
    try:
        return AccountStorageSource(library)
    except AccountError as exc:
        raise SyncError(str(exc)) from None
