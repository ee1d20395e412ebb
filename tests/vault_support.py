"""The real vault for tests: unlocked by a passphrase from the environment, with cheap
(but real) scrypt parameters and no OS keyring, so no test reaches the user's keyring."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import keyring
import pytest
from keyring.backends import fail

from printmanager_vault import kdf, store

PASSPHRASE = "vault pass"


@contextmanager
def passphrase_vault(monkeypatch: pytest.MonkeyPatch, *unset: str) -> Iterator[None]:
    """Within the block, vaults open with :data:`PASSPHRASE`; ``unset`` names more variables to clear."""
    for name in (store.ENV_NEW_PASSPHRASE, store.ENV_BACKEND, *unset):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(store.ENV_PASSPHRASE, PASSPHRASE)
    monkeypatch.setattr(keyring.core, "_keyring_backend", fail.Keyring())
    kdf.set_scrypt_params_for_tests(kdf.ScryptParams(n=2**12, r=8, p=1))
    try:
        yield
    finally:
        kdf.set_scrypt_params_for_tests(None)
