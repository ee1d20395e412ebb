"""What can go wrong with the vault: every message is one line for the user."""

from __future__ import annotations

from printmanager_core.errors import NotFound, PrintManagerError


class VaultError(PrintManagerError):
    """Base class of every vault error."""


class VaultCorrupted(VaultError):
    """The vault file was modified, truncated or damaged; nothing is returned from it."""


class UnsupportedVaultVersion(VaultError):
    """The vault file was written by a newer printmanager (or names an unknown cipher/KDF)."""


class WrongPassphrase(VaultError):
    """The passphrase does not open this vault."""


class WrongKey(VaultError):
    """The data key from the OS keyring or DPAPI does not open this vault."""


class VaultLocked(VaultError):
    """The key is not available without asking the user (no passphrase, no terminal, no keyring entry)."""


class BackendUnavailable(VaultError):
    """The credential-store backend asked for cannot work on this machine."""


class PlaintextRefused(VaultError):
    """A plaintext store was about to be used without the user explicitly asking for it."""


class SecretNotFound(VaultError, NotFound):
    """No secret with that name is stored."""
