"""The signed-in session: the refresh token lives only in the vault, the access token only in memory.

The vault entry ``account.session`` holds a small JSON document: the provider's name and
address, the refresh token, and the account data the policy allows (email and display
name). Every rotation rewrites it with the vault's atomic write before the new access
token is used, so a crash never leaves the only valid refresh token in memory.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Callable

import attrs

from .errors import AccountError, NotSignedIn

if TYPE_CHECKING:  # pragma: no cover (supabase imports httpx: loaded when a provider is made)
    from .supabase import SupabaseProvider, Tokens

SECRET_NAME = "account.session"
#: the cached subscription (see :mod:`.entitlement`): forgotten with the session
ENTITLEMENT_SECRET_NAME = "account.entitlement"
#: an access token this close to its expiry is replaced before use (seconds)
EXPIRY_MARGIN = 60


@attrs.define
class Account:
    """What ``account status`` shows: the provider, email and display name only."""

    provider: str
    url: str
    email: str | None
    display_name: str | None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return attrs.asdict(self)


def _account_from(tokens: Tokens) -> tuple[str | None, str | None]:
    user = tokens.user or {}
    meta = user.get("user_metadata") or tokens.claims.get("user_metadata") or {}
    email = user.get("email") or tokens.claims.get("email")
    name = meta.get("full_name") or meta.get("name") or meta.get("display_name")
    return email, name


def _supabase(url: str, anon_key: str) -> SupabaseProvider:
    from .supabase import SupabaseProvider

    return SupabaseProvider(url, anon_key)


class Session:
    """The account session of one library, reading and writing the vault through ``vault``."""

    def __init__(self, vault: Any, provider_factory: Callable[[str, str], SupabaseProvider] | None = None) -> None:
        self.vault = vault
        self._factory = provider_factory or _supabase
        self._access: Tokens | None = None  # in memory only

    def _saved(self) -> dict[str, Any] | None:
        if not self.vault.exists() or SECRET_NAME not in self.vault.names():
            return None
        return dict(json.loads(self.vault.get(SECRET_NAME)))

    def _save(self, provider: SupabaseProvider, tokens: Tokens) -> None:
        email, name = _account_from(tokens)
        saved = self._saved() or {}
        doc = {"provider": provider.name, "url": provider.url, "anon_key": provider.anon_key,
               "refresh_token": tokens.refresh_token,
               "email": email or saved.get("email"), "display_name": name or saved.get("display_name")}
        self.vault.set(SECRET_NAME, json.dumps(doc))
        self._access = tokens

    def sign_in(self, provider: SupabaseProvider, tokens: Tokens) -> Account:
        """Save a fresh sign-in's refresh token and account data."""
        self.vault.delete(ENTITLEMENT_SECRET_NAME, missing_ok=True)  # another account's subscription
        self._save(provider, tokens)
        account = self.account()
        assert account is not None
        return account

    def account(self) -> Account | None:
        """The saved account (no network), or None when signed out."""
        saved = self._saved()
        if saved is None:
            return None
        return Account(saved["provider"], saved["url"], saved.get("email"), saved.get("display_name"))

    def provider(self) -> SupabaseProvider:
        """The provider of the saved session."""
        saved = self._saved()
        if saved is None:
            raise NotSignedIn("not signed in (run: printmanager account login)")
        return self._factory(saved["url"], saved["anon_key"])

    def access_token(self) -> Tokens:
        """A valid access token: the one in memory, else one from a rotated refresh token."""
        if self._access is not None and self._access.expires_at - EXPIRY_MARGIN > time.time():
            return self._access
        saved = self._saved()
        if saved is None:
            raise NotSignedIn("not signed in (run: printmanager account login)")
        provider = self.provider()
        tokens = provider.refresh(saved["refresh_token"])
        self._save(provider, tokens)  # the old refresh token is spent: save the new one first
        return tokens

    def sign_out(self) -> bool:
        """Revoke the session at the provider (where it can be reached) and forget it here.
        Returns whether the provider confirmed the revocation."""
        saved = self._saved()
        if saved is None:
            return False
        revoked = False
        try:
            tokens = self.access_token()
            self.provider().sign_out(tokens.access_token)
            revoked = True
        except AccountError:
            revoked = False
        finally:
            self.vault.delete(SECRET_NAME, missing_ok=True)
            self.vault.delete(ENTITLEMENT_SECRET_NAME, missing_ok=True)
            self._access = None
        return revoked
