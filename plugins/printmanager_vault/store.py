"""The credential-store protocol, the passphrase sources, and the store registry.

A credential store keeps (or derives) the vault's 32-byte key; the secrets
themselves always live in the vault file. Stores are supplied through the
``register_credential_stores(register)`` hook: ``register(factory)`` where the
factory has a ``name`` and, called with no arguments, returns a store.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, Protocol, runtime_checkable

import attrs

from printmanager_core.registry import Registry, collect

from .errors import BackendUnavailable, VaultError, VaultLocked

log = logging.getLogger(__name__)

#: Environment variable holding the vault passphrase (headless use, CI).
ENV_PASSPHRASE = "PRINTMANAGER_VAULT_PASSPHRASE"
#: Environment variable holding the new passphrase for ``secrets rotate``.
ENV_NEW_PASSPHRASE = "PRINTMANAGER_VAULT_NEW_PASSPHRASE"
#: Environment variable naming the backend for a new vault (same as ``--backend``).
ENV_BACKEND = "PRINTMANAGER_VAULT_BACKEND"

#: Shortest passphrase accepted for a new vault or a rotation.
MIN_PASSPHRASE = 8

#: A prompt: ``prompt(message, confirm)`` returns what the user typed.
Prompt = Callable[[str, bool], str]


@attrs.frozen(repr=False)
class KeySlot:
    """A vault key and the header fields a store needs to find or derive it again.

    :ivar key: the 32-byte key, or None for the plaintext store.
    :ivar params: JSON-safe fields written (unencrypted) into the vault header;
        never secret (a salt, a keyring entry name, a DPAPI-protected blob).
    """

    key: bytes | None
    params: dict[str, Any]

    def __repr__(self) -> str:  # never show the key
        return f"KeySlot(params={self.params!r})"


def terminal_prompt(message: str, confirm: bool) -> str:
    """Ask on the controlling terminal without echo; VaultLocked when there is none.

    Reads from the terminal, not stdin, so ``secrets set`` can take the value on stdin.
    """
    import getpass

    if sys.platform != "win32":
        try:
            fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
        except OSError:
            raise VaultLocked(
                f"the vault needs a passphrase and there is no terminal to ask on; set {ENV_PASSPHRASE}"
            ) from None
        os.close(fd)
    elif not sys.stdin or not sys.stdin.isatty():
        raise VaultLocked(f"the vault needs a passphrase and there is no console to ask on; set {ENV_PASSPHRASE}")
    first = getpass.getpass(f"{message}: ")
    if confirm and getpass.getpass(f"{message} (again): ") != first:
        raise VaultError("the two passphrases differ; nothing changed")
    return first


def ask_on_terminal(message: str, confirm: bool) -> str:
    """The default prompt: :func:`terminal_prompt`, looked up when called (tests replace it)."""
    return terminal_prompt(message, confirm)


@attrs.define
class Passphrases:
    """Where passphrases come from: an explicit value, the environment, else a prompt.

    :ivar passphrase: the current passphrase, if the caller has it.
    :ivar new_passphrase: the passphrase to rotate to, if the caller has it.
    :ivar prompt: asks the user (``None``: never ask; raise VaultLocked instead).
    :ivar env: the environment to read ``PRINTMANAGER_VAULT_*`` from.
    """

    passphrase: str | None = attrs.field(default=None, repr=False)
    new_passphrase: str | None = attrs.field(default=None, repr=False)
    prompt: Prompt | None = ask_on_terminal
    env: Mapping[str, str] = attrs.field(factory=lambda: os.environ)

    def current(self) -> str:
        """The passphrase that opens an existing vault."""
        if self.passphrase is not None:
            return self.passphrase
        value = self.env.get(ENV_PASSPHRASE)
        if value:
            return value
        return self._ask("Vault passphrase", confirm=False, variable=ENV_PASSPHRASE)

    def new(self, *, rotating: bool) -> str:
        """The passphrase for a new key: for a new vault the current one, for a rotation the new one."""
        if rotating:
            value = self.new_passphrase or self.env.get(ENV_NEW_PASSPHRASE) or None
            variable = ENV_NEW_PASSPHRASE
            if value is None:
                value = self._ask("New vault passphrase", confirm=True, variable=variable)
        else:
            value = self.passphrase or self.env.get(ENV_PASSPHRASE) or None
            variable = ENV_PASSPHRASE
            if value is None:
                value = self._ask("New vault passphrase", confirm=True, variable=variable)
        if len(value) < MIN_PASSPHRASE:
            raise VaultError(f"a vault passphrase needs at least {MIN_PASSPHRASE} characters")
        return value

    def _ask(self, message: str, *, confirm: bool, variable: str) -> str:
        what = "a new passphrase" if variable == ENV_NEW_PASSPHRASE else "a passphrase"
        if self.prompt is None:
            raise VaultLocked(f"the vault needs {what}; set {variable}")
        try:
            return self.prompt(message, confirm)
        except VaultLocked:
            raise VaultLocked(f"the vault needs {what} and there is no terminal to ask on; set {variable}") from None


@attrs.frozen
class KeyRequest:
    """What a store is told when asked for a key.

    :ivar vault_id: random id of the vault (names keyring entries, DPAPI entropy).
    :ivar library_dir: the library the vault belongs to.
    :ivar passphrases: where a passphrase comes from, for stores that need one.
    :ivar rotating: True when the key is made for ``rotate`` (a new passphrase is asked).
    """

    vault_id: str
    library_dir: Path
    passphrases: Passphrases
    rotating: bool = False


@runtime_checkable
class CredentialStore(Protocol):
    """A backend that keeps the vault key. Register its factory with ``register_credential_stores``."""

    #: Short name used in ``--backend``, settings and the vault header.
    name: ClassVar[str]
    #: True if the store leaves secrets readable; used only when asked for by name.
    plaintext: ClassVar[bool]
    #: One line for ``secrets ls --json`` and the docs.
    description: ClassVar[str]

    def unavailable_reason(self) -> str | None:
        """Why this store cannot work here (None when it can)."""
        ...

    def create_key(self, request: KeyRequest) -> KeySlot:
        """Make (and keep, if the store keeps keys) a new key for a vault."""
        ...

    def open_key(self, params: Mapping[str, Any], request: KeyRequest) -> bytes | None:
        """Recover the key described by the header ``params``."""
        ...

    def forget_key(self, params: Mapping[str, Any], request: KeyRequest) -> bool:
        """Delete the kept key (keyring entry); True if something was deleted."""
        ...

    def wrong_key(self) -> VaultError:
        """The error to raise when the recovered key does not open the vault."""
        ...


def credential_stores() -> Registry[Callable[[], CredentialStore]]:
    """Every registered credential-store factory, by name."""
    return collect("register_credential_stores", lambda factory: factory.name)


def make_store(name: str) -> CredentialStore:
    """Instantiate the registered store ``name``; BackendUnavailable for an unknown name."""
    registry = credential_stores()
    if name not in registry:
        known = ", ".join(registry.names()) or "none"
        raise BackendUnavailable(f"unknown vault backend {name!r} (known: {known})")
    store = registry.get(name)()
    return store


def choose_backend(platform: str | None = None) -> str:
    """The backend for a new vault when the user named none.

    Windows: ``dpapi``; elsewhere the OS keyring when a usable, non-plaintext one
    is there; otherwise ``passphrase``. Never ``plaintext``.
    """
    platform = sys.platform if platform is None else platform
    if platform == "win32":
        return "dpapi"
    registry = credential_stores()
    if "keyring" in registry:
        reason = registry.get("keyring")().unavailable_reason()
        if reason is None:
            return "keyring"
        log.info("vault: not using the OS keyring: %s", reason)
    return "passphrase"
