"""scrypt parameters: the default cost, its bounds, and the test-only override.

The default cost was chosen with ``bench/vault_scrypt.py`` so that unlocking takes
about a third of a second on the reference machine (see ``docs/vault.md``). The
parameters are written into every vault header, so a later release can raise the
default and old vaults still open (``secrets rotate`` re-derives under the new one).
"""

from __future__ import annotations

from typing import Any, Mapping

import attrs
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from .errors import UnsupportedVaultVersion, VaultCorrupted

#: Bytes of salt drawn from ``os.urandom`` for every new passphrase key.
SALT_BYTES = 16
#: Largest memory one derivation may need (128 * n * r bytes); guards against a
#: header that asks for an absurd cost.
MAX_MEMORY = 1 << 30


def _power_of_two(instance: Any, attribute: Any, value: int) -> None:
    if value < 2 or value & (value - 1):
        raise ValueError(f"scrypt n must be a power of two, not {value}")


@attrs.frozen
class ScryptParams:
    """scrypt's cost parameters: CPU/memory cost ``n``, block size ``r``, parallelism ``p``."""

    n: int = attrs.field(validator=[attrs.validators.instance_of(int), _power_of_two])
    r: int = attrs.field(default=8, validator=[attrs.validators.instance_of(int), attrs.validators.in_(range(1, 33))])
    p: int = attrs.field(default=1, validator=[attrs.validators.instance_of(int), attrs.validators.in_(range(1, 5))])

    def __attrs_post_init__(self) -> None:
        if 128 * self.n * self.r > MAX_MEMORY:
            raise ValueError(f"scrypt n={self.n}, r={self.r} needs more than {MAX_MEMORY >> 20} MiB")

    @property
    def memory(self) -> int:
        """Bytes of memory one derivation uses (128 * n * r)."""
        return 128 * self.n * self.r

    def to_header(self) -> dict[str, int]:
        """The parameters as they are written into a vault header."""
        return {"n": self.n, "r": self.r, "p": self.p}

    @classmethod
    def from_header(cls, fields: Mapping[str, Any]) -> "ScryptParams":
        """Read parameters back from a header; VaultCorrupted when they are malformed or out of bounds."""
        try:
            return cls(n=fields["n"], r=fields["r"], p=fields["p"])
        except (KeyError, TypeError, ValueError) as exc:
            raise UnsupportedVaultVersion(
                f"vault header has scrypt parameters this version cannot use ({exc})"
            ) from None

    def derive(self, passphrase: str, salt: bytes) -> bytes:
        """Derive a 32-byte key from ``passphrase`` and ``salt`` (real scrypt, from ``cryptography``)."""
        if len(salt) < SALT_BYTES:
            raise VaultCorrupted("vault header has a salt that is too short")
        kdf = Scrypt(salt=salt, length=32, n=self.n, r=self.r, p=self.p)
        return kdf.derive(passphrase.encode("utf-8"))


#: The cost new vaults get: 2**17 * 8 * 128 bytes = 128 MiB, ~0.33 s here (bench/vault_scrypt.py).
DEFAULT_SCRYPT = ScryptParams(n=2**17, r=8, p=1)

#: A cheap cost for the test suite only (still real scrypt; ~2 ms).
TEST_SCRYPT = ScryptParams(n=2**10, r=8, p=1)

_override: ScryptParams | None = None


def scrypt_params() -> ScryptParams:
    """The parameters for a new passphrase key: :data:`DEFAULT_SCRYPT` unless a test overrode them."""
    return _override if _override is not None else DEFAULT_SCRYPT


def set_scrypt_params_for_tests(params: ScryptParams | None) -> None:
    """TEST-ONLY override of the cost of new passphrase keys (``None`` restores the default).

    The test suite calls this with :data:`TEST_SCRYPT` so that each vault it
    creates costs milliseconds instead of a third of a second. Never call it in
    application code: the chosen parameters are written into the vault header and
    every later unlock of that vault uses them.
    """
    global _override
    _override = params
