"""Errors of the account plugin (one line each, shown by the CLI)."""

from __future__ import annotations

from printmanager_core.errors import PrintManagerError


class AccountError(PrintManagerError):
    """Something about signing in or the account failed."""


class SignInFailed(AccountError):
    """The provider refused the credentials or the grant."""


class NotSignedIn(AccountError):
    """There is no saved session."""


class TokenInvalid(AccountError):
    """A token's signature or claims did not verify against the provider's JWKS."""


class ServiceUnreachable(AccountError):
    """The identity provider or the printmanager service could not be reached (offline, or it failed)."""


class EntitlementRequired(AccountError):
    """A hosted cloud feature needs a subscription that is not (or no longer) in force."""
