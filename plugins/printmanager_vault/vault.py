"""The vault: named secrets in one authenticated-encrypted file under the library directory.

Names and values are encrypted together as one blob, so the file shows neither.
The key comes from a credential store (DPAPI, the OS keyring, or scrypt of a
passphrase); see ``docs/vault.md`` for the format and the threat model.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import uuid
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, TypeVar

import attrs

from . import store as _store
from .errors import (
    BackendUnavailable,
    PlaintextRefused,
    SecretNotFound,
    VaultCorrupted,
    VaultError,
)
from .fileformat import (
    CIPHER_AESGCM,
    CIPHER_NONE,
    MAX_FILE_BYTES,
    Header,
    VaultFile,
    encode_prefix,
    parse,
)
from .fsutil import atomic_write, file_lock
from .store import CredentialStore, KeyRequest, Passphrases, Prompt, choose_backend, make_store

log = logging.getLogger(__name__)

#: File name of the vault inside the library directory.
VAULT_FILE = "vault.bin"
#: Lock file taken around every read-modify-write.
LOCK_FILE = "vault.lock"
#: The padded payload is a multiple of this many bytes (hides the exact size of names and values).
PAD_TO = 256
#: Longest secret name.
MAX_NAME = 200
#: Largest secret value, in UTF-8 bytes.
MAX_VALUE = 1024 * 1024

PLAINTEXT_WARNING = (
    "WARNING: the vault at {path} is NOT ENCRYPTED (backend 'plaintext', chosen explicitly): "
    "anyone who can read that file can read every secret in it"
)

R = TypeVar("R")


class PlaintextVaultWarning(UserWarning):
    """Issued every time a plaintext vault is opened or written."""


def _subkeys(master: bytes) -> tuple[bytes, bytes]:
    """The payload key and the 16-byte key-check value, both HKDF-SHA256 of the vault key."""
    # cryptography is imported on first use: loading the plugin (every command) must not pay for it
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    payload = HKDF(hashes.SHA256(), 32, salt=None, info=b"printmanager-vault v1 payload").derive(master)
    check = HKDF(hashes.SHA256(), 16, salt=None, info=b"printmanager-vault v1 key-check").derive(master)
    return payload, check


def validate_name(name: Any) -> str:
    """Return ``name`` if it can name a secret; VaultError saying why not otherwise."""
    if not isinstance(name, str) or not name:
        raise VaultError("a secret name must be a non-empty string")
    if len(name) > MAX_NAME:
        raise VaultError(f"a secret name has at most {MAX_NAME} characters")
    if name != name.strip() or not name.isprintable():
        raise VaultError(f"secret name {name!r} has leading/trailing spaces or control characters")
    return name


def _encode_payload(secrets: Mapping[str, str]) -> bytes:
    data = json.dumps({"secrets": dict(sorted(secrets.items()))}, separators=(",", ":")).encode("utf-8")
    return data + b" " * (-len(data) % PAD_TO)


def _decode_payload(data: bytes) -> dict[str, str]:
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise VaultCorrupted("vault contents are not readable") from None
    secrets = value.get("secrets") if isinstance(value, dict) else None
    if not isinstance(secrets, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in secrets.items()):
        raise VaultCorrupted("vault contents are not a map of names to secrets")
    return secrets


@attrs.frozen
class VaultInfo:
    """What can be said about a vault without unlocking it.

    :ivar path: the vault file.
    :ivar exists: whether the file exists.
    :ivar backend: the store named in its header (None when there is no vault yet).
    :ivar kdf: the key derivation named in its header (``scrypt``, ``keyring``, ``dpapi``, ``none``).
    :ivar params: the scrypt cost (empty for the other stores).
    """

    path: Path
    exists: bool
    backend: str | None = None
    kdf: str | None = None
    params: dict[str, int] = attrs.field(factory=dict)


@attrs.frozen
class DestroyResult:
    """What :meth:`Vault.destroy` removed.

    :ivar entries: how many secrets were in the vault (None when it could not be
        unlocked without asking, or was damaged).
    :ivar file_removed: whether a vault file was deleted.
    :ivar key_forgotten: whether a keyring entry was deleted.
    :ivar notes: one line per thing that could not be done or counted.
    """

    entries: int | None
    file_removed: bool
    key_forgotten: bool
    notes: tuple[str, ...] = ()


class Vault:
    """The secrets of one library.

    Each call reads the file, and each change is a locked read-modify-write with
    an atomic replace, so concurrent processes never lose each other's entries.
    Outside :meth:`unlocked` the key is recovered per call (and a passphrase may
    be asked per call); inside it, once.

    :param library_dir: the library directory; the vault is ``<dir>/vault.bin``.
    :param backend: a store name or instance. For a new vault it picks the store
        (default: :func:`~printmanager_vault.store.choose_backend`); for an
        existing one it must match the header. ``"plaintext"`` only works when
        named here (or through ``--backend``/``PRINTMANAGER_VAULT_BACKEND``).
    :param passphrase: the passphrase (default: ``PRINTMANAGER_VAULT_PASSPHRASE``, else the prompt).
    :param new_passphrase: the passphrase to rotate to (default: ``PRINTMANAGER_VAULT_NEW_PASSPHRASE``,
        else the prompt).
    :param prompt: asks for a passphrase (default: on the terminal); None never asks.
    :param env: the environment to read (default ``os.environ``).
    """

    def __init__(
        self,
        library_dir: str | os.PathLike[str],
        backend: str | CredentialStore | None = None,
        *,
        passphrase: str | None = None,
        new_passphrase: str | None = None,
        prompt: Prompt | None = _store.ask_on_terminal,
        env: Mapping[str, str] | None = None,
    ):
        self.directory = Path(library_dir)
        self.path = self.directory / VAULT_FILE
        self.lock_path = self.directory / LOCK_FILE
        self._requested = backend
        self._passphrases = Passphrases(
            passphrase=passphrase,
            new_passphrase=new_passphrase,
            prompt=prompt,
            env=os.environ if env is None else env,
        )
        self._key: bytes | None = None
        self._key_ident: str | None = None
        self._depth = 0

    def __repr__(self) -> str:
        return f"Vault({str(self.directory)!r})"

    # --- public API --------------------------------------------------------

    def exists(self) -> bool:
        """Whether the vault file exists."""
        return self.path.exists()

    def info(self) -> VaultInfo:
        """Backend and key-derivation parameters from the header (no unlock; VaultCorrupted if damaged)."""
        vf = self._read()
        if vf is None:
            return VaultInfo(self.path, False)
        key = vf.header.key
        params = {k: v for k, v in key.items() if k in ("n", "r", "p") and isinstance(v, int)}
        kdf = key.get("kdf") if isinstance(key.get("kdf"), str) else None
        return VaultInfo(self.path, True, vf.header.backend, kdf, params)

    @contextlib.contextmanager
    def unlocked(self) -> Iterator["Vault"]:
        """Recover the key once (asking for a passphrase at most once) for the calls in the block.

        The key is dropped when the outermost block ends.
        """
        self._depth += 1
        try:
            if self._depth == 1:
                vf = self._read()
                if vf is not None:
                    self._key_for(vf, self._store_for_existing(vf.header))
            yield self
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._key = None
                self._key_ident = None

    def names(self) -> list[str]:
        """The names of the stored secrets, sorted ([] when there is no vault yet)."""
        return sorted(self._load()[3])

    def get(self, name: str) -> str:
        """The secret called ``name``; SecretNotFound when there is none."""
        secrets = self._load()[3]
        try:
            return secrets[validate_name(name)]
        except KeyError:
            raise SecretNotFound(f"no secret named {name!r} in the vault") from None

    def set(self, name: str, value: str) -> None:
        """Store ``value`` as ``name`` (creating the vault and its key on first use)."""
        validate_name(name)
        if not isinstance(value, str):
            raise VaultError("a secret value must be a string")
        if len(value.encode("utf-8")) > MAX_VALUE:
            raise VaultError(f"a secret value is at most {MAX_VALUE} bytes")

        def change(secrets: dict[str, str]) -> None:
            secrets[name] = value

        self._modify(change, create=True)

    def delete(self, name: str, *, missing_ok: bool = False) -> bool:
        """Remove ``name``; SecretNotFound if absent (unless ``missing_ok``). True if removed."""
        validate_name(name)

        def change(secrets: dict[str, str]) -> bool:
            if name not in secrets:
                if missing_ok:
                    return False
                raise SecretNotFound(f"no secret named {name!r} in the vault")
            del secrets[name]
            return True

        return self._modify(change, create=False)

    def rotate(self, *, new_passphrase: str | None = None, backend: str | CredentialStore | None = None) -> int:
        """Re-encrypt every secret under a new key; returns how many secrets there are.

        With the passphrase store the new key comes from a new passphrase (and a
        new salt, at the current scrypt cost); with the keyring and DPAPI from a
        new random data key. ``backend`` moves the vault to another store. The old
        keyring entry is deleted only after the new file is in place.
        """
        if new_passphrase is not None:
            self._passphrases.new_passphrase = new_passphrase
        self.directory.mkdir(parents=True, exist_ok=True)
        with file_lock(self.lock_path):
            vf, store, _key, secrets = self._load()
            if vf is None or store is None:
                raise VaultError("there is no vault to rotate yet")
            target = self._store_for_new(backend) if backend is not None else store
            slot = target.create_key(self._request(vf.header.vault_id, rotating=True))
            self._write(self._seal(vf.header.vault_id, target, slot.params, slot.key, secrets))
            self._requested = target
            self._remember(Header(vf.header.vault_id, target.name, slot.params, ""), slot.key)
            if slot.params != vf.header.key or target.name != store.name:
                try:
                    store.forget_key(vf.header.key, self._request(vf.header.vault_id))
                except VaultError as exc:
                    log.warning("vault: the old key was not deleted: %s", exc)
        return len(secrets)

    def destroy(self) -> DestroyResult:
        """Delete the vault file and the key its store keeps (a keyring entry). Never prompts.

        The entries are counted when the key can be had without asking (keyring,
        DPAPI, ``PRINTMANAGER_VAULT_PASSPHRASE``); a damaged or locked vault is
        deleted all the same.
        """
        notes: list[str] = []
        entries: int | None = None
        key_forgotten = False
        if not self.directory.exists():
            return DestroyResult(None, False, False)
        with file_lock(self.lock_path):
            try:
                vf = self._read()
            except VaultError as exc:
                vf = None
                notes.append(f"vault file was unreadable ({exc})")
            if vf is not None:
                quiet = Vault(self.directory, self._requested, prompt=None, env=self._passphrases.env)
                quiet._passphrases.passphrase = self._passphrases.passphrase
                requested = self._requested
                store: CredentialStore | None = None
                if requested is not None and not isinstance(requested, str) and requested.name == vf.header.backend:
                    store = requested
                else:
                    try:
                        store = make_store(vf.header.backend)
                    except VaultError as exc:
                        notes.append(str(exc))
                if store is not None:
                    try:
                        key = quiet._key_for(vf, store)
                        entries = len(quiet._open_body(vf, key))
                    except VaultError as exc:
                        notes.append(f"entries not counted: {exc}")
                    try:
                        key_forgotten = store.forget_key(vf.header.key, self._request(vf.header.vault_id))
                    except VaultError as exc:
                        notes.append(f"key not deleted: {exc}")
            file_removed = False
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
                file_removed = True
            for stray in self.directory.glob(".vault-*.tmp"):
                with contextlib.suppress(OSError):
                    stray.unlink()
        with contextlib.suppress(OSError):
            self.lock_path.unlink()
        self._key, self._key_ident = None, None
        return DestroyResult(entries, file_removed, key_forgotten, tuple(notes))

    # --- internals ---------------------------------------------------------

    def _request(self, vault_id: str, *, rotating: bool = False) -> KeyRequest:
        return KeyRequest(vault_id, self.directory, self._passphrases, rotating)

    def _read(self) -> VaultFile | None:
        try:
            with open(self.path, "rb") as handle:
                data = handle.read(MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise VaultError(f"cannot read the vault file {self.path}: {exc.strerror}") from None
        if len(data) > MAX_FILE_BYTES:
            raise VaultCorrupted(f"vault file {self.path} is larger than any vault this version writes")
        return parse(data)

    def _requested_name(self) -> str | None:
        requested = self._requested
        if requested is None or isinstance(requested, str):
            return requested
        return requested.name

    def _store_for_existing(self, header: Header) -> CredentialStore:
        wanted = self._requested_name()
        if wanted is not None and wanted != header.backend:
            raise VaultError(
                f"this vault uses the {header.backend!r} backend, not {wanted!r}; "
                f"switch with `printmanager secrets rotate --to {wanted}`"
            )
        requested = self._requested
        store = requested if requested is not None and not isinstance(requested, str) else make_store(header.backend)
        if store.plaintext != (header.cipher == CIPHER_NONE):
            raise VaultCorrupted("vault header's cipher does not match its backend")
        if store.plaintext:
            if wanted is None:
                raise PlaintextRefused(
                    f"the vault at {self.path} is NOT ENCRYPTED; open it only by asking for the plaintext "
                    "backend explicitly (--backend plaintext), or move it with "
                    "`secrets --backend plaintext rotate --to keyring`"
                )
            self._warn_plaintext()
        return store

    def _store_for_new(self, backend: str | CredentialStore | None = None) -> CredentialStore:
        requested = backend if backend is not None else self._requested
        if requested is None:
            store = make_store(choose_backend())
            if store.plaintext:
                raise PlaintextRefused(f"the automatically chosen vault backend {store.name!r} is a plaintext store")
        elif isinstance(requested, str):
            store = make_store(requested)
        else:
            store = requested
        reason = store.unavailable_reason()
        if reason is not None:
            raise BackendUnavailable(f"vault backend {store.name!r} cannot be used here: {reason}")
        if store.plaintext:
            self._warn_plaintext()
        return store

    def _warn_plaintext(self) -> None:
        warnings.warn(PLAINTEXT_WARNING.format(path=self.path), PlaintextVaultWarning, stacklevel=4)

    @staticmethod
    def _ident(header: Header) -> str:
        return json.dumps([header.vault_id, header.backend, header.key], sort_keys=True)

    def _remember(self, header: Header, key: bytes | None) -> None:
        if self._depth > 0:
            self._key, self._key_ident = key, self._ident(header)

    def _key_for(self, vf: VaultFile, store: CredentialStore) -> bytes | None:
        header = vf.header
        ident = self._ident(header)
        if self._key_ident == ident:
            return self._key
        if header.cipher == CIPHER_NONE:
            key = None
        else:
            key = store.open_key(header.key, self._request(header.vault_id))
            if key is None or not hmac.compare_digest(_subkeys(key)[1], header.check or b""):
                raise store.wrong_key()
        self._remember(header, key)
        return key

    @staticmethod
    def _open_body(vf: VaultFile, key: bytes | None) -> dict[str, str]:
        if vf.header.cipher == CIPHER_NONE:
            if not hmac.compare_digest(hashlib.sha256(vf.body).digest(), vf.header.digest or b""):
                raise VaultCorrupted("vault contents are damaged or were modified (digest mismatch)")
            return _decode_payload(vf.body)
        assert key is not None and vf.header.nonce is not None
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        try:
            payload = AESGCM(_subkeys(key)[0]).decrypt(vf.header.nonce, vf.body, vf.prefix)
        except InvalidTag:
            raise VaultCorrupted(
                "vault contents are damaged, truncated or were modified (authentication failed)"
            ) from None
        return _decode_payload(payload)

    def _load(self) -> tuple[VaultFile | None, CredentialStore | None, bytes | None, dict[str, str]]:
        vf = self._read()
        if vf is None:
            return None, None, None, {}
        store = self._store_for_existing(vf.header)
        key = self._key_for(vf, store)
        return vf, store, key, self._open_body(vf, key)

    @staticmethod
    def _seal(
        vault_id: str, store: CredentialStore, params: dict[str, Any], key: bytes | None, secrets: Mapping[str, str]
    ) -> bytes:
        payload = _encode_payload(secrets)
        if key is None:
            if not store.plaintext:
                raise VaultError(f"vault backend {store.name!r} gave no key")
            header = Header(vault_id, store.name, params, CIPHER_NONE, digest=hashlib.sha256(payload).digest())
            return encode_prefix(header) + payload
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        payload_key, check = _subkeys(key)
        nonce = os.urandom(12)
        header = Header(vault_id, store.name, params, CIPHER_AESGCM, nonce=nonce, check=check)
        prefix = encode_prefix(header)
        return prefix + AESGCM(payload_key).encrypt(nonce, payload, prefix)

    def _write(self, data: bytes) -> None:
        try:
            atomic_write(self.path, data)
        except OSError as exc:
            raise VaultError(f"cannot write the vault file {self.path}: {exc.strerror}") from None

    def _modify(self, change: Callable[[dict[str, str]], R], *, create: bool) -> R:
        self.directory.mkdir(parents=True, exist_ok=True)
        with file_lock(self.lock_path):
            vf, store, key, secrets = self._load()
            if vf is None:
                if not create:
                    return change(secrets)
                store = self._store_for_new()
                vault_id = uuid.uuid4().hex
                slot = store.create_key(self._request(vault_id))
                key, params = slot.key, slot.params
                self._remember(Header(vault_id, store.name, params, ""), key)
            else:
                assert store is not None
                vault_id, params = vf.header.vault_id, vf.header.key
            result = change(secrets)
            self._write(self._seal(vault_id, store, params, key, secrets))
            return result


# --- module-level helpers for other plugins ------------------------------------


def library_directory(library: Any) -> Path:
    """The directory of ``library`` (a :class:`~printmanager_core.library.Library` or a path)."""
    if isinstance(library, (str, os.PathLike)):
        return Path(library)
    return Path(library.directory)


#: Library setting naming the vault backend (``printmanager settings set vault.backend keyring``).
SETTING_BACKEND = "vault.backend"


def configured_backend(library: Any = None, env: Mapping[str, str] | None = None) -> str | None:
    """The backend the user asked for: ``PRINTMANAGER_VAULT_BACKEND``, else the library's
    ``vault.backend`` setting, else None (automatic choice)."""
    value = (os.environ if env is None else env).get(_store.ENV_BACKEND, "").strip()
    if value:
        return value
    settings = getattr(library, "settings", None)
    if settings is not None:
        from printmanager_core.errors import PrintManagerError

        try:
            setting = settings.get(SETTING_BACKEND)
        except PrintManagerError:
            setting = None
        if isinstance(setting, str) and setting.strip():
            return setting.strip()
    return None


def open_vault(library: Any, **options: Any) -> Vault:
    """The vault of ``library`` with the backend the user configured (options go to :class:`Vault`)."""
    options.setdefault("backend", configured_backend(library))
    return Vault(library_directory(library), **options)


def get_secret(library: Any, name: str) -> str | None:
    """The secret ``name`` of ``library``, or None when it is not stored.

    Other plugins read their credentials through this (the sync plugin reads
    ``sync.s3.access_key_id`` and ``sync.s3.secret_access_key``).

    :raises VaultError: the vault is damaged, the key is wrong, or it is locked.
    """
    try:
        return open_vault(library).get(name)
    except SecretNotFound:
        return None


def set_secret(library: Any, name: str, value: str) -> None:
    """Store ``value`` as ``name`` in the vault of ``library``."""
    open_vault(library).set(name, value)


def delete_secret(library: Any, name: str) -> bool:
    """Remove ``name`` from the vault of ``library``; False when it was not there."""
    return open_vault(library).delete(name, missing_ok=True)
