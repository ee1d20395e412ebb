"""The headless store: a random vault key wrapped under the passphrase; nothing is kept anywhere.

The wrap is the shared construction of ``keywrap.py`` (scrypt, then
ChaCha20-Poly1305 under the derived key, bound to the vault's id); its fields go
in the header as ``{"kdf": "scrypt", "n", "r", "p", "salt", "nonce", "wrapped"}``.
Vaults written before it (the same without ``nonce`` and ``wrapped``: the vault key
*was* scrypt(passphrase, salt)) still open; ``secrets rotate`` rewrites one in the
wrapped form.
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import Any, ClassVar, Mapping

from .. import keywrap
from ..errors import UnsupportedVaultVersion, VaultError, WrongPassphrase
from ..kdf import ScryptParams, scrypt_params
from ..store import KeyRequest, KeySlot

#: the header's ``kdf``; a header with ``wrapped`` holds a wrapped key, one without it (older
#: vaults, still read) a key derived directly from the passphrase
KDF = "scrypt"


def _ad(vault_id: str) -> bytes:
    """What a wrapped vault key is bound to: this vault."""
    return b"printmanager-vault v1 key|" + vault_id.encode("utf-8")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _field(params: Mapping[str, Any], name: str) -> bytes:
    try:
        return base64.b64decode(str(params.get(name, "")), validate=True)
    except (binascii.Error, ValueError):
        raise UnsupportedVaultVersion(f"vault header has a {name} this version cannot read") from None


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
        """Ask for a (new) passphrase; make a random key and wrap it under the current cost."""
        passphrase = request.passphrases.new(rotating=request.rotating)
        key = os.urandom(keywrap.KEY_BYTES)
        w = keywrap.wrap(key, passphrase, ad=_ad(request.vault_id), cost=scrypt_params())
        fields: dict[str, Any] = {"kdf": KDF, "n": w.cost.n, "r": w.cost.r, "p": w.cost.p,
                                  "salt": _b64(w.salt), "nonce": _b64(w.nonce), "wrapped": _b64(w.wrapped)}  # fmt: skip
        return KeySlot(key, fields)

    def open_key(self, params: Mapping[str, Any], request: KeyRequest) -> bytes:
        """Unwrap the key with the passphrase (or, for an older vault, derive it)."""
        if params.get("kdf") != KDF:
            raise UnsupportedVaultVersion(
                f"vault key derivation {params.get('kdf')!r} is not supported by this version"
            )
        cost = ScryptParams.from_header(params)
        salt = _field(params, "salt")
        if "wrapped" not in params:  # a vault written before the key-wrap
            return cost.derive(request.passphrases.current(), salt)
        try:
            wrapped = keywrap.WrappedKey(cost, salt, _field(params, "nonce"), _field(params, "wrapped"))
        except ValueError:
            raise UnsupportedVaultVersion("vault header has a wrapped key this version cannot read") from None
        try:
            return keywrap.unwrap(wrapped, request.passphrases.current(), ad=_ad(request.vault_id))
        except keywrap.WrongSecret:
            raise self.wrong_key() from None

    def forget_key(self, params: Mapping[str, Any], request: KeyRequest) -> bool:
        """Nothing is kept, so nothing to forget."""
        return False

    def wrong_key(self) -> VaultError:
        """A passphrase that derives another key."""
        return WrongPassphrase("wrong vault passphrase")
