"""scrypt parameters: the default cost, its bounds, and the test-only override.

The cost and its bounds are the shared key-wrap's (``keywrap.py``); a vault header
stores them as ``n``, ``r``, ``p``.

The default cost was chosen with ``bench/vault_scrypt.py`` so that unlocking takes
about a third of a second on the reference machine (see ``docs/vault.md``). The
parameters are written into every vault header, so a later release can raise the
default and old vaults still open (``secrets rotate`` re-derives under the new one).
"""

from __future__ import annotations

from typing import Any, Mapping

import attrs

from . import keywrap
from .errors import UnsupportedVaultVersion, VaultCorrupted

#: Bytes of salt drawn from ``os.urandom`` for every new passphrase key.
SALT_BYTES = keywrap.SALT_BYTES
#: Largest memory one derivation may need (128 * n * r bytes); guards against a
#: header that asks for an absurd cost.
MAX_MEMORY = keywrap.MAX_MEMORY


@attrs.frozen
class ScryptParams(keywrap.ScryptCost):
    """scrypt's cost parameters (the shared :class:`~printmanager_vault.keywrap.ScryptCost`)
    as a vault header writes them."""

    def to_header(self) -> dict[str, int]:
        """The parameters as they are written into a vault header."""
        return {"n": self.n, "r": self.r, "p": self.p}

    @classmethod
    def from_header(cls, fields: Mapping[str, Any]) -> "ScryptParams":
        """Read parameters back from a header; UnsupportedVaultVersion when they are malformed or out of bounds."""
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
        return super().derive(passphrase, salt)


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
