"""Passphrase key-wrap: one construction for every key printmanager protects with a passphrase.

A random key (the vault's key, a sync repository's master key) is never derived
from the passphrase itself; it is *wrapped*::

    kek     = scrypt(passphrase as UTF-8, salt (16 random bytes), n, r, p, length 32)
    wrapped = ChaCha20-Poly1305(kek).encrypt(nonce (12 random bytes), key, associated data)

The associated data names what the key is for (the vault's id, the repository's
id), so a wrapped key copied elsewhere does not open. A wrong passphrase fails
the AEAD tag: :class:`WrongSecret`. Everything comes from ``cryptography``.

Used by the vault's passphrase store (``backends/passphrase.py``) and by sync's
key files (``printmanager_sync.crypto``); this module imports neither, so both
can import it without a circle. The cost is stored beside every wrapped key, so
a later release can raise the default and old wraps still open.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import attrs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

#: bytes of scrypt salt per wrap
SALT_BYTES = 16
#: bytes of the ChaCha20-Poly1305 nonce
NONCE_BYTES = 12
#: bytes of a key-encryption key (and of the keys wrapped here)
KEY_BYTES = 32
#: largest memory one derivation may need (128 * n * r bytes)
MAX_MEMORY = 1 << 30
#: the AEAD of every wrap, by its name in files
AEAD = "chacha20-poly1305"


class WrapError(Exception):
    """A wrapped key could not be opened."""


class WrongSecret(WrapError):
    """The passphrase does not open the wrapped key (or the wrap was altered)."""


class DamagedWrap(WrapError):
    """The wrapped key's fields are malformed or out of bounds."""


def _power_of_two(instance: Any, attribute: Any, value: int) -> None:
    if value < 2 or value & (value - 1):
        raise ValueError(f"scrypt n must be a power of two, not {value}")


@attrs.frozen
class ScryptCost:
    """scrypt's cost: CPU/memory cost ``n`` (a power of two), block size ``r``, parallelism ``p``."""

    n: int = attrs.field(validator=[attrs.validators.instance_of(int), _power_of_two])
    r: int = attrs.field(default=8, validator=[attrs.validators.instance_of(int), attrs.validators.in_(range(1, 33))])
    p: int = attrs.field(default=1, validator=[attrs.validators.instance_of(int), attrs.validators.in_(range(1, 17))])

    def __attrs_post_init__(self) -> None:
        if 128 * self.n * self.r > MAX_MEMORY:
            raise ValueError(f"scrypt n={self.n}, r={self.r} needs more than {MAX_MEMORY >> 20} MiB")

    @property
    def memory(self) -> int:
        """Bytes of memory one derivation uses (128 * n * r)."""
        return 128 * self.n * self.r

    def derive(self, passphrase: str, salt: bytes) -> bytes:
        """scrypt(``passphrase`` as UTF-8, ``salt``) at this cost: 32 bytes."""
        return Scrypt(salt=salt, length=KEY_BYTES, n=self.n, r=self.r, p=self.p).derive(passphrase.encode("utf-8"))


@attrs.frozen
class WrappedKey:
    """A key wrapped under a passphrase: the cost and salt of the KEK, the nonce, the ciphertext."""

    cost: ScryptCost
    salt: bytes = attrs.field(validator=attrs.validators.instance_of(bytes))
    nonce: bytes = attrs.field(validator=attrs.validators.instance_of(bytes))
    wrapped: bytes = attrs.field(validator=attrs.validators.instance_of(bytes))

    def __attrs_post_init__(self) -> None:
        if len(self.salt) < SALT_BYTES or len(self.nonce) != NONCE_BYTES or len(self.wrapped) < 16:
            raise ValueError("salt, nonce or wrapped key of the wrong length")

    @classmethod
    def from_fields(cls, cost: Mapping[str, Any], salt: bytes, nonce: bytes, wrapped: bytes) -> "WrappedKey":
        """Build from stored fields; :class:`DamagedWrap` when they are malformed or out of bounds."""
        try:
            return cls(ScryptCost(n=cost["n"], r=cost["r"], p=cost["p"]), salt, nonce, wrapped)
        except (KeyError, TypeError, ValueError) as exc:
            raise DamagedWrap(f"wrapped key is damaged ({exc})") from None


def wrap(key: bytes, passphrase: str, *, ad: bytes, cost: ScryptCost) -> WrappedKey:
    """Wrap ``key`` under ``passphrase`` (fresh salt and nonce), bound to ``ad``."""
    if not passphrase:
        raise ValueError("the passphrase must not be empty")
    salt, nonce = os.urandom(SALT_BYTES), os.urandom(NONCE_BYTES)
    kek = cost.derive(passphrase, salt)
    return WrappedKey(cost, salt, nonce, ChaCha20Poly1305(kek).encrypt(nonce, key, ad))


def unwrap(wrapped: WrappedKey, passphrase: str, *, ad: bytes) -> bytes:
    """The key inside ``wrapped``; :class:`WrongSecret` if ``passphrase`` (or ``ad``) is not the one."""
    kek = wrapped.cost.derive(passphrase, wrapped.salt)
    try:
        return ChaCha20Poly1305(kek).decrypt(wrapped.nonce, wrapped.wrapped, ad)
    except InvalidTag:
        raise WrongSecret("wrong passphrase (or the wrapped key was altered)") from None
