"""The OS keyring store (macOS Keychain, Secret Service, KWallet, Windows Credential Manager).

The keyring holds only the vault's 32-byte data key (base64, well under Windows
Credential Manager's 2,560-byte cap); the secrets stay in the vault file. Keyring
backends that keep secrets in plaintext, or do nothing, are refused.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import uuid
from typing import Any, ClassVar, Mapping

from ..errors import BackendUnavailable, UnsupportedVaultVersion, VaultError, VaultLocked, WrongKey
from ..store import KeyRequest, KeySlot

log = logging.getLogger(__name__)

#: Service name of every printmanager entry in the OS keyring.
SERVICE = "printmanager-vault"

#: Keyring backends refused by class (module.qualname): they store secrets in
#: plaintext, store nothing, or always fail.
REFUSED_BACKENDS: frozenset[str] = frozenset(
    {
        "keyring.backends.fail.Keyring",
        "keyring.backends.null.Keyring",
        "keyrings.alt.file.PlaintextKeyring",
        "keyrings.alt.pyfs.PlaintextKeyring",
    }
)


def _qualname(backend: object) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def refusal_reason(backend: Any) -> str | None:
    """Why ``backend`` (a ``keyring`` backend instance) must not hold a vault key, or None."""
    from keyring.backends import chainer, fail, null

    qual = _qualname(backend)
    if isinstance(backend, chainer.ChainerBackend):
        return None if _first_viable(backend.backends) is not None else "the keyring chainer has no usable backend"
    if isinstance(backend, fail.Keyring):
        return "no OS keyring found (keyring.backends.fail)"
    if isinstance(backend, null.Keyring):
        return "the keyring is disabled (keyring.backends.null)"
    if qual in REFUSED_BACKENDS or "plaintext" in qual.lower():
        return f"{qual} keeps secrets in plaintext or weakly protected"
    if qual.startswith("keyrings.alt."):
        return f"{qual} is a keyrings.alt file store, not an OS keyring"
    try:
        priority = backend.priority
    except Exception as exc:  # a backend reports non-viability by raising from priority
        return f"{qual} is not usable here: {exc}"
    if priority <= 0:
        return f"{qual} is not usable here (priority {priority})"
    return None


def _first_viable(backends: Any) -> Any:
    for candidate in backends:
        if refusal_reason(candidate) is None:
            return candidate
    return None


def usable_keyring(backend: Any = None) -> Any:
    """The keyring backend to use: ``backend`` or keyring's choice, unwrapped from a chainer.

    :raises BackendUnavailable: when it is refused (plaintext, fail, null, nothing viable).
    """
    import keyring
    from keyring.backends import chainer

    try:
        chosen = backend if backend is not None else keyring.get_keyring()
    except Exception as exc:
        raise BackendUnavailable(f"the OS keyring could not be loaded: {exc}") from None
    reason = refusal_reason(chosen)
    if reason is not None:
        raise BackendUnavailable(f"OS keyring refused: {reason}")
    if isinstance(chosen, chainer.ChainerBackend):
        chosen = _first_viable(chosen.backends)
    return chosen


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


class KeyringStore:
    """Keeps a random 32-byte data key in the OS keyring under service ``printmanager-vault``.

    :param backend: a ``keyring`` backend instance to use instead of keyring's own choice.
    """

    name: ClassVar[str] = "keyring"
    plaintext: ClassVar[bool] = False
    description: ClassVar[str] = "random data key kept in the OS keyring (Keychain, Secret Service, KWallet)"

    def __init__(self, backend: Any = None):
        self._backend = backend

    def _keyring(self) -> Any:
        return usable_keyring(self._backend)

    def unavailable_reason(self) -> str | None:
        """Why no usable OS keyring is there, or None."""
        try:
            self._keyring()
        except BackendUnavailable as exc:
            return str(exc)
        return None

    def create_key(self, request: KeyRequest) -> KeySlot:
        """Store a new random key under a new entry name (old entries stay until forgotten)."""
        keyring = self._keyring()
        key = os.urandom(32)
        username = f"{request.vault_id}/{uuid.uuid4().hex}"
        try:
            keyring.set_password(SERVICE, username, base64.b64encode(key).decode("ascii"))
        except Exception as exc:
            raise VaultLocked(f"the OS keyring refused to store the vault key: {_one_line(exc)}") from None
        return KeySlot(key, {"kdf": "keyring", "service": SERVICE, "username": username})

    def open_key(self, params: Mapping[str, Any], request: KeyRequest) -> bytes:
        """Fetch the key named in the header from the keyring."""
        service, username = self._entry(params)
        keyring = self._keyring()
        try:
            encoded = keyring.get_password(service, username)
        except Exception as exc:
            raise VaultLocked(f"the OS keyring did not give the vault key: {_one_line(exc)}") from None
        if encoded is None:
            raise WrongKey(
                f"the vault key is missing from the OS keyring (service {service!r}, entry {username!r}); "
                "the secrets cannot be recovered without it"
            )
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 32:
            raise WrongKey("the OS keyring entry for the vault does not hold a printmanager vault key")
        return key

    def forget_key(self, params: Mapping[str, Any], request: KeyRequest) -> bool:
        """Delete the keyring entry named in the header; False when it was already gone."""
        import keyring.errors

        service, username = self._entry(params)
        keyring_backend = self._keyring()
        try:
            keyring_backend.delete_password(service, username)
        except keyring.errors.PasswordDeleteError:
            return False
        except Exception as exc:
            raise VaultLocked(f"the OS keyring did not delete the vault key: {_one_line(exc)}") from None
        return True

    def wrong_key(self) -> VaultError:
        """The keyring holds a key, but another one."""
        return WrongKey("the key in the OS keyring does not open this vault")

    @staticmethod
    def _entry(params: Mapping[str, Any]) -> tuple[str, str]:
        service, username = params.get("service"), params.get("username")
        if params.get("kdf") != "keyring" or not isinstance(service, str) or not isinstance(username, str):
            raise UnsupportedVaultVersion("vault header names a keyring entry this version cannot read")
        return service, username
