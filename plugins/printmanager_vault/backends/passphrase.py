"""The headless store: the key is scrypt(passphrase, random salt); nothing is kept anywhere."""

from __future__ import annotations

import base64
import binascii
import os
from typing import Any, ClassVar, Mapping

from ..errors import UnsupportedVaultVersion, VaultError, WrongPassphrase
from ..kdf import SALT_BYTES, ScryptParams, scrypt_params
from ..store import KeyRequest, KeySlot


class PassphraseStore:
    """Derives the vault key from a passphrase with scrypt; the salt and cost go in the header."""

    name: ClassVar[str] = "passphrase"
    plaintext: ClassVar[bool] = False
    description: ClassVar[str] = (
        "key derived with scrypt from a passphrase (env PRINTMANAGER_VAULT_PASSPHRASE or a prompt)"
    )

    def unavailable_reason(self) -> str | None:
        """Always available."""
        return None

    def create_key(self, request: KeyRequest) -> KeySlot:
        """Ask for a (new) passphrase and derive a key under a fresh salt and the current cost."""
        passphrase = request.passphrases.new(rotating=request.rotating)
        params = scrypt_params()
        salt = os.urandom(SALT_BYTES)
        key = params.derive(passphrase, salt)
        fields: dict[str, Any] = {"kdf": "scrypt", **params.to_header(), "salt": base64.b64encode(salt).decode("ascii")}
        return KeySlot(key, fields)

    def open_key(self, params: Mapping[str, Any], request: KeyRequest) -> bytes:
        """Derive the key from the passphrase with the salt and cost in the header."""
        if params.get("kdf") != "scrypt":
            raise UnsupportedVaultVersion(
                f"vault key derivation {params.get('kdf')!r} is not supported by this version"
            )
        cost = ScryptParams.from_header(params)
        try:
            salt = base64.b64decode(str(params.get("salt", "")), validate=True)
        except (binascii.Error, ValueError):
            raise UnsupportedVaultVersion("vault header has a salt this version cannot read") from None
        return cost.derive(request.passphrases.current(), salt)

    def forget_key(self, params: Mapping[str, Any], request: KeyRequest) -> bool:
        """Nothing is kept, so nothing to forget."""
        return False

    def wrong_key(self) -> VaultError:
        """A passphrase that derives another key."""
        return WrongPassphrase("wrong vault passphrase")
