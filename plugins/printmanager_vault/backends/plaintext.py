"""The plaintext store: NO encryption. Used only when the user asks for it by name."""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

from ..errors import VaultError
from ..store import KeyRequest, KeySlot


class PlaintextStore:
    """Keeps the secrets readable in the vault file (still mode 0600 and checksummed).

    The vault refuses a plaintext store unless the caller named it explicitly
    (``--backend plaintext``, ``PRINTMANAGER_VAULT_BACKEND=plaintext``), and warns loudly.
    """

    name: ClassVar[str] = "plaintext"
    plaintext: ClassVar[bool] = True
    description: ClassVar[str] = "NOT ENCRYPTED: secrets readable by anyone who can read the file"

    def unavailable_reason(self) -> str | None:
        """Always available (which is the danger)."""
        return None

    def create_key(self, request: KeyRequest) -> KeySlot:
        """No key."""
        return KeySlot(None, {"kdf": "none"})

    def open_key(self, params: Mapping[str, Any], request: KeyRequest) -> None:
        """No key."""
        return None

    def forget_key(self, params: Mapping[str, Any], request: KeyRequest) -> bool:
        """Nothing is kept."""
        return False

    def wrong_key(self) -> VaultError:  # pragma: no cover - there is no key to be wrong
        """Never raised: a plaintext vault has no key."""
        return VaultError("a plaintext vault has no key")
