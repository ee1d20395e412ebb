"""The built-in credential stores: DPAPI, the OS keyring, a passphrase, and (on request) plaintext."""

from __future__ import annotations

from .dpapi import DpapiStore
from .os_keyring import KeyringStore
from .passphrase import PassphraseStore
from .plaintext import PlaintextStore

#: Factories registered through ``register_credential_stores``.
BUILTIN_STORES = (DpapiStore, KeyringStore, PassphraseStore, PlaintextStore)

__all__ = ["BUILTIN_STORES", "DpapiStore", "KeyringStore", "PassphraseStore", "PlaintextStore"]
