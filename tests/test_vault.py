"""The vault: file format, tamper/truncation detection, passphrase store, rotation,
concurrency, plaintext only on request, and the privacy hooks.

scrypt runs for real everywhere, at ``kdf.TEST_SCRYPT`` (n=2**10) through the
documented test-only override, except in the test of the default cost.
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import os
import stat
import warnings
from pathlib import Path
from typing import Any

import keyring
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from keyring.backends import fail

import printmanager_vault
from printmanager_core import plugins
from printmanager_vault import (
    PlaintextRefused,
    PlaintextVaultWarning,
    SecretNotFound,
    UnsupportedVaultVersion,
    Vault,
    VaultCorrupted,
    VaultError,
    VaultLocked,
    WrongPassphrase,
    get_secret,
    kdf,
    store,
)
from printmanager_vault.fileformat import MAGIC, PREFIX, parse

PASS = "correct horse battery staple"
SECRETS = {
    "sync.s3.access_key_id": "AKIAQWERTYUIOPASDFGH",
    "sync.s3.secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY",
    "idp.refresh_token": "rt-9f8e7d6c5b4a39281706f5e4d3c2b1a0",
}


class NoTerminal:
    """Stands in for the terminal prompt: counts calls, answers from a list or refuses."""

    def __init__(self, answers: list[str] | None = None):
        self.answers = list(answers or [])
        self.calls: list[tuple[str, bool]] = []

    def __call__(self, message: str, confirm: bool) -> str:
        self.calls.append((message, confirm))
        if not self.answers:
            raise VaultLocked("test: no terminal")
        return self.answers.pop(0)


@pytest.fixture(autouse=True)
def vault_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap real scrypt, no passphrase/backend from the caller's env, no OS keyring, no tty prompt."""
    for name in (store.ENV_PASSPHRASE, store.ENV_NEW_PASSPHRASE, store.ENV_BACKEND):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(keyring.core, "_keyring_backend", fail.Keyring())
    monkeypatch.setattr(store, "terminal_prompt", NoTerminal())
    kdf.set_scrypt_params_for_tests(kdf.TEST_SCRYPT)
    yield
    kdf.set_scrypt_params_for_tests(None)


def make_vault(directory: Path, **kwargs: Any) -> Vault:
    kwargs.setdefault("passphrase", PASS)
    kwargs.setdefault("prompt", None)
    vault = Vault(directory, **kwargs)
    with vault.unlocked():
        for name, value in SECRETS.items():
            vault.set(name, value)
    return vault


# --- round trip and what the file shows ----------------------------------------


def test_passphrase_round_trip(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    assert vault.info().backend == "passphrase"
    again = Vault(tmp_path, passphrase=PASS, prompt=None)
    assert again.names() == sorted(SECRETS)
    for name, value in SECRETS.items():
        assert again.get(name) == value
    again.set("idp.refresh_token", "rotated-token-value")
    assert Vault(tmp_path, passphrase=PASS, prompt=None).get("idp.refresh_token") == "rotated-token-value"
    assert again.delete("idp.refresh_token") is True
    assert "idp.refresh_token" not in again.names()


def test_file_shows_no_name_and_no_value(tmp_path: Path) -> None:
    make_vault(tmp_path)
    data = (tmp_path / "vault.bin").read_bytes()
    assert data.startswith(MAGIC)
    for name, value in SECRETS.items():
        for text in (name, value, name.split(".")[-1]):
            assert text.encode() not in data, text
            assert text.encode("utf-16-le") not in data, text
    assert PASS.encode() not in data
    # the header is readable JSON, and says only how to get the key
    header = parse(data).header
    assert header.backend == "passphrase" and header.cipher == "AES-256-GCM"
    assert set(header.key) == {"kdf", "n", "r", "p", "salt", "nonce", "wrapped"}  # the shared key-wrap
    assert header.key["kdf"] == "scrypt"


def test_payload_is_padded(tmp_path: Path) -> None:
    vault = Vault(tmp_path, passphrase=PASS, prompt=None)
    vault.set("a", "x")
    small = parse((tmp_path / "vault.bin").read_bytes()).body
    vault.set("b", "y" * 40)
    bigger = parse((tmp_path / "vault.bin").read_bytes()).body
    assert len(small) == len(bigger) == 256 + 16  # one padded block plus the GCM tag


def test_file_and_lock_are_private(tmp_path: Path) -> None:
    make_vault(tmp_path)
    for name in ("vault.bin", "vault.lock"):
        mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
        # POSIX: owner read/write only. Windows has no such bits (the profile ACL applies).
        assert mode == 0o600 or (os.name == "nt" and mode & stat.S_IRUSR), (name, oct(mode))


def test_default_scrypt_cost_is_written_and_used(tmp_path: Path) -> None:
    kdf.set_scrypt_params_for_tests(None)
    assert kdf.DEFAULT_SCRYPT == kdf.ScryptParams(n=2**17, r=8, p=1)
    assert kdf.DEFAULT_SCRYPT.memory == 128 * 1024 * 1024
    vault = Vault(tmp_path, passphrase=PASS, prompt=None)
    vault.set("k", "v")
    header = parse((tmp_path / "vault.bin").read_bytes()).header
    assert (header.key["n"], header.key["r"], header.key["p"]) == (2**17, 8, 1)
    # the key really is wrapped under scrypt(passphrase, salt) at that cost (keywrap.py):
    # ChaCha20-Poly1305, bound to the vault's id
    salt = base64.b64decode(header.key["salt"])
    kek = Scrypt(salt=salt, length=32, n=2**17, r=8, p=1).derive(PASS.encode())
    expected = ChaCha20Poly1305(kek).decrypt(
        base64.b64decode(header.key["nonce"]), base64.b64decode(header.key["wrapped"]),
        b"printmanager-vault v1 key|" + header.vault_id.encode(),
    )  # fmt: skip
    # ...and the file decodes as docs/vault.md describes: HKDF-SHA256 subkey, AES-256-GCM, prefix as AAD
    vf = parse((tmp_path / "vault.bin").read_bytes())
    payload_key = HKDF(hashes.SHA256(), 32, salt=None, info=b"printmanager-vault v1 payload").derive(expected)
    plain = AESGCM(payload_key).decrypt(vf.header.nonce, vf.body, vf.prefix)
    assert json.loads(plain) == {"secrets": {"k": "v"}}
    assert Vault(tmp_path, passphrase=PASS, prompt=None).get("k") == "v"


def _old_form_vault(path: Path, secrets: dict[str, str]) -> None:
    """A vault file as printmanager wrote it before the shared key-wrap, built byte by byte from
    docs/vault.md: the key *is* scrypt(passphrase, salt); HKDF subkeys; AES-256-GCM body."""
    from printmanager_vault.fileformat import CIPHER_AESGCM, Header, encode_prefix

    salt = os.urandom(16)
    key = Scrypt(salt=salt, length=32, n=2**10, r=8, p=1).derive(PASS.encode())
    payload_key = HKDF(hashes.SHA256(), 32, salt=None, info=b"printmanager-vault v1 payload").derive(key)
    check = HKDF(hashes.SHA256(), 16, salt=None, info=b"printmanager-vault v1 key-check").derive(key)
    nonce = os.urandom(12)
    fields = {"kdf": "scrypt", "n": 2**10, "r": 8, "p": 1, "salt": base64.b64encode(salt).decode()}
    header = Header("0123456789abcdef0123456789abcdef", "passphrase", fields, CIPHER_AESGCM, nonce=nonce, check=check)
    prefix = encode_prefix(header)
    body = json.dumps({"secrets": secrets}, separators=(",", ":")).encode()
    body += b" " * (-len(body) % 256)
    path.mkdir(parents=True, exist_ok=True)
    (path / "vault.bin").write_bytes(prefix + AESGCM(payload_key).encrypt(nonce, body, prefix))


def test_a_vault_of_the_old_form_still_opens_and_rotate_wraps_its_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _old_form_vault(tmp_path, SECRETS)
    vault = Vault(tmp_path, passphrase=PASS, prompt=None)
    assert {n: vault.get(n) for n in vault.names()} == SECRETS
    with pytest.raises(WrongPassphrase):
        Vault(tmp_path, passphrase="not the passphrase", prompt=None).names()
    vault.set("added", "later")  # a write keeps the form it found (no new passphrase is asked)
    assert "wrapped" not in parse((tmp_path / "vault.bin").read_bytes()).header.key
    monkeypatch.setenv(store.ENV_NEW_PASSPHRASE, PASS)
    vault.rotate()  # rotating writes the new form
    header = parse((tmp_path / "vault.bin").read_bytes()).header
    assert header.key["kdf"] == "scrypt" and {"nonce", "wrapped"} <= set(header.key)
    again = Vault(tmp_path, passphrase=PASS, prompt=None)
    assert {n: again.get(n) for n in again.names()} == {**SECRETS, "added": "later"}
    with pytest.raises(WrongPassphrase):
        Vault(tmp_path, passphrase="not the passphrase", prompt=None).names()


def test_scrypt_params_bounds() -> None:
    with pytest.raises(ValueError):
        kdf.ScryptParams(n=1000)
    with pytest.raises(ValueError):
        kdf.ScryptParams(n=2**24, r=8)  # 16 GiB
    with pytest.raises(UnsupportedVaultVersion):
        kdf.ScryptParams.from_header({"n": 2**30, "r": 8, "p": 1})


# --- wrong key, damage, truncation ------------------------------------------------


def test_wrong_passphrase(tmp_path: Path) -> None:
    make_vault(tmp_path)
    before = (tmp_path / "vault.bin").read_bytes()
    wrong = Vault(tmp_path, passphrase="not the passphrase", prompt=None)
    with pytest.raises(WrongPassphrase, match="wrong vault passphrase"):
        wrong.names()
    with pytest.raises(WrongPassphrase):
        wrong.set("new", "value")
    with pytest.raises(WrongPassphrase):
        wrong.get("sync.s3.access_key_id")
    assert (tmp_path / "vault.bin").read_bytes() == before


def test_no_passphrase_and_no_terminal_is_locked(tmp_path: Path) -> None:
    make_vault(tmp_path)
    with pytest.raises(VaultLocked, match="PRINTMANAGER_VAULT_PASSPHRASE"):
        Vault(tmp_path, prompt=None).names()


def test_passphrase_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_vault(tmp_path)
    monkeypatch.setenv(store.ENV_PASSPHRASE, PASS)
    assert Vault(tmp_path, prompt=None).names() == sorted(SECRETS)


@pytest.mark.parametrize("mask", [0x01, 0x80])
def test_every_flipped_bit_is_detected(tmp_path: Path, mask: int) -> None:
    make_vault(tmp_path)
    path = tmp_path / "vault.bin"
    good = path.read_bytes()
    results: dict[str, int] = {}
    for position in range(len(good)):
        damaged = bytearray(good)
        damaged[position] ^= mask
        path.write_bytes(bytes(damaged))
        with pytest.raises(VaultCorrupted) as info:
            Vault(tmp_path, passphrase=PASS, prompt=None).names()
        message = str(info.value)
        assert "\n" not in message
        results[message.split(" (")[0]] = results.get(message.split(" (")[0], 0) + 1
    assert sum(results.values()) == len(good)
    # damage in the header and in the body is told apart
    assert any("header" in m for m in results) and any("contents" in m for m in results)
    path.write_bytes(good)
    assert Vault(tmp_path, passphrase=PASS, prompt=None).names() == sorted(SECRETS)


def test_truncation_is_detected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(store.ENV_PASSPHRASE, PASS)
    make_vault(tmp_path)
    path = tmp_path / "vault.bin"
    good = path.read_bytes()
    prefix_len = len(parse(good).prefix)
    lengths = sorted(
        {
            0,
            1,
            7,
            8,
            PREFIX.size - 1,
            PREFIX.size,
            40,
            prefix_len - 33,
            prefix_len - 1,
            prefix_len,
            prefix_len + 1,
            prefix_len + 16,
            len(good) - 16,
            len(good) - 1,
        }
    )
    for length in lengths:
        path.write_bytes(good[:length])
        with pytest.raises(VaultCorrupted):
            Vault(tmp_path, passphrase=PASS, prompt=None).names()
    # a damaged vault is never read as an empty one, and is not overwritten by a write
    path.write_bytes(good[: len(good) - 1])
    with pytest.raises(VaultCorrupted):
        get_secret(tmp_path, "sync.s3.access_key_id")
    with pytest.raises(VaultCorrupted):
        Vault(tmp_path, passphrase=PASS, prompt=None).set("x", "y")
    assert path.read_bytes() == good[: len(good) - 1]


def test_appended_bytes_are_detected(tmp_path: Path) -> None:
    make_vault(tmp_path)
    path = tmp_path / "vault.bin"
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(VaultCorrupted):
        Vault(tmp_path, passphrase=PASS, prompt=None).names()


def test_newer_format_version_is_refused(tmp_path: Path) -> None:
    import hashlib

    make_vault(tmp_path)
    path = tmp_path / "vault.bin"
    vf = parse(path.read_bytes())
    header_json = vf.prefix[PREFIX.size : -32]
    start = PREFIX.pack(MAGIC, 2, len(header_json)) + header_json
    path.write_bytes(start + hashlib.sha256(start).digest() + vf.body)
    with pytest.raises(UnsupportedVaultVersion, match="version 2"):
        Vault(tmp_path, passphrase=PASS, prompt=None).names()


def test_header_swapped_to_plaintext_is_refused(tmp_path: Path) -> None:
    """Someone who can write the file replaces it with a (checksummed) plaintext vault."""
    make_vault(tmp_path)
    forged = tmp_path / "forged"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlaintextVaultWarning)
        Vault(forged, backend="plaintext").set("sync.s3.access_key_id", "ATTACKER")
    (tmp_path / "vault.bin").write_bytes((forged / "vault.bin").read_bytes())
    with pytest.raises(PlaintextRefused):
        Vault(tmp_path, passphrase=PASS, prompt=None).get("sync.s3.access_key_id")
    with pytest.raises(PlaintextRefused):
        get_secret(tmp_path, "sync.s3.access_key_id")


# --- API behaviour ----------------------------------------------------------------


def test_missing_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(store.ENV_PASSPHRASE, PASS)
    vault = Vault(tmp_path, passphrase=PASS, prompt=None)
    assert vault.names() == [] and not vault.exists()
    with pytest.raises(SecretNotFound):
        vault.get("nope")
    with pytest.raises(SecretNotFound):
        vault.delete("nope")
    assert not vault.exists(), "deleting from no vault must not create one"
    make_vault(tmp_path)
    with pytest.raises(SecretNotFound, match="'nope'"):
        vault.get("nope")
    assert vault.delete("nope", missing_ok=True) is False
    assert get_secret(tmp_path, "nope") is None


@pytest.mark.parametrize("name", ["", " lead", "trail ", "tab\tname", "x" * 201])
def test_bad_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(VaultError):
        Vault(tmp_path, passphrase=PASS, prompt=None).set(name, "v")
    assert not (tmp_path / "vault.bin").exists()


def test_unicode_and_large_values(tmp_path: Path) -> None:
    vault = Vault(tmp_path, passphrase=PASS, prompt=None)
    vault.set("ключ", "pässwörd ✓ 密码")
    vault.set("pem", "-----BEGIN KEY-----\n" + "A" * 5000 + "\n-----END KEY-----\n")
    again = Vault(tmp_path, passphrase=PASS, prompt=None)
    assert again.get("ключ") == "pässwörd ✓ 密码"
    assert again.get("pem").endswith("-----END KEY-----\n")


def test_unlocked_asks_once(tmp_path: Path) -> None:
    make_vault(tmp_path)
    prompt = NoTerminal([PASS] * 10)
    vault = Vault(tmp_path, prompt=prompt)
    with vault.unlocked():
        vault.set("a", "1")
        assert vault.get("a") == "1"
        vault.delete("a")
        assert vault.names() == sorted(SECRETS)
    assert len(prompt.calls) == 1
    vault.names()
    vault.names()
    assert len(prompt.calls) == 3, "outside unlocked() the key is not kept"
    assert vault._key is None


def test_new_vault_asks_for_passphrase_twice(tmp_path: Path) -> None:
    prompt = NoTerminal(["a new long passphrase"])
    Vault(tmp_path, prompt=prompt).set("k", "v")
    assert prompt.calls == [("New vault passphrase", True)]
    with pytest.raises(VaultError, match="at least 8"):
        Vault(tmp_path / "short", passphrase="short", prompt=None).set("k", "v")


def test_atomic_write_keeps_old_file_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_vault(tmp_path)
    before = (tmp_path / "vault.bin").read_bytes()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(VaultError, match="cannot write the vault file"):
        Vault(tmp_path, passphrase=PASS, prompt=None).set("new", "value")
    monkeypatch.undo()
    assert (tmp_path / "vault.bin").read_bytes() == before
    assert not list(tmp_path.glob(".vault-*.tmp"))


# --- rotation ---------------------------------------------------------------------


def test_rotate_to_new_passphrase(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    old_header = parse((tmp_path / "vault.bin").read_bytes()).header
    assert vault.rotate(new_passphrase="a brand new passphrase") == len(SECRETS)
    new_header = parse((tmp_path / "vault.bin").read_bytes()).header
    assert new_header.vault_id == old_header.vault_id
    assert new_header.key["salt"] != old_header.key["salt"]
    with pytest.raises(WrongPassphrase):
        Vault(tmp_path, passphrase=PASS, prompt=None).names()
    again = Vault(tmp_path, passphrase="a brand new passphrase", prompt=None)
    assert {n: again.get(n) for n in again.names()} == SECRETS


def test_rotate_upgrades_scrypt_cost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_vault(tmp_path)
    kdf.set_scrypt_params_for_tests(kdf.ScryptParams(n=2**11, r=8, p=1))
    monkeypatch.setenv(store.ENV_NEW_PASSPHRASE, PASS)
    Vault(tmp_path, passphrase=PASS, prompt=None).rotate()
    assert parse((tmp_path / "vault.bin").read_bytes()).header.key["n"] == 2**11
    assert Vault(tmp_path, passphrase=PASS, prompt=None).names() == sorted(SECRETS)


def test_rotate_needs_a_new_passphrase(tmp_path: Path) -> None:
    make_vault(tmp_path)
    with pytest.raises(VaultLocked, match="PRINTMANAGER_VAULT_NEW_PASSPHRASE"):
        Vault(tmp_path, passphrase=PASS, prompt=None).rotate()
    with pytest.raises(VaultError, match="no vault to rotate"):
        Vault(tmp_path / "empty", passphrase=PASS, prompt=None).rotate(new_passphrase="whatever long")


# --- plaintext only when asked -------------------------------------------------------


def test_plaintext_only_when_asked_and_loud(tmp_path: Path) -> None:
    with pytest.warns(PlaintextVaultWarning, match="NOT ENCRYPTED"):
        Vault(tmp_path, backend="plaintext").set("token", "visible-value")
    data = (tmp_path / "vault.bin").read_bytes()
    assert b"visible-value" in data  # it is what the user asked for
    with pytest.raises(PlaintextRefused, match="NOT ENCRYPTED"):
        Vault(tmp_path).get("token")
    with pytest.warns(PlaintextVaultWarning):
        assert Vault(tmp_path, backend="plaintext").get("token") == "visible-value"
    # damage is still caught
    (tmp_path / "vault.bin").write_bytes(data.replace(b"visible-value", b"visible-valuf"))
    with pytest.raises(VaultCorrupted), warnings.catch_warnings():
        warnings.simplefilter("ignore", PlaintextVaultWarning)
        Vault(tmp_path, backend="plaintext").get("token")
    (tmp_path / "vault.bin").write_bytes(data)
    # moving it to an encrypted store hides the value
    with pytest.warns(PlaintextVaultWarning):
        Vault(tmp_path, backend="plaintext", new_passphrase=PASS, prompt=None).rotate(backend="passphrase")
    assert b"visible-value" not in (tmp_path / "vault.bin").read_bytes()
    assert Vault(tmp_path, passphrase=PASS, prompt=None).get("token") == "visible-value"


def test_automatic_choice_is_never_plaintext(monkeypatch: pytest.MonkeyPatch) -> None:
    assert store.choose_backend("win32") == "dpapi"
    assert store.choose_backend("linux") == "passphrase"  # the fixture's fail keyring
    assert store.choose_backend("darwin") == "passphrase"


def test_existing_vault_keeps_its_backend(tmp_path: Path) -> None:
    make_vault(tmp_path)
    with pytest.raises(VaultError, match="uses the 'passphrase' backend, not 'keyring'"):
        Vault(tmp_path, backend="keyring", passphrase=PASS, prompt=None).names()
    with pytest.raises(VaultError, match="unknown vault backend 'nope'"):
        Vault(tmp_path / "other", backend="nope").set("a", "b")


# --- concurrency --------------------------------------------------------------------


def _add_names(directory: str, prefix: str, count: int, start: Any) -> None:
    start.wait()
    vault = Vault(directory, passphrase=PASS, prompt=None)
    for index in range(count):
        vault.set(f"{prefix}.{index}", f"value-{prefix}-{index}")


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    make_vault(tmp_path)
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [context.Process(target=_add_names, args=(str(tmp_path), f"writer{i}", 8, start)) for i in range(4)]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    vault = Vault(tmp_path, passphrase=PASS, prompt=None)
    names = set(vault.names())
    expected = {f"writer{i}.{j}" for i in range(4) for j in range(8)} | set(SECRETS)
    assert names == expected
    assert vault.get("writer3.7") == "value-writer3-7"


# --- hooks ----------------------------------------------------------------------------


class ExportDouble:
    """The privacy export's interface: add_json(name, data, description)."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[Any, str]] = {}

    def add_json(self, name: str, data: Any, description: str) -> None:
        self.files[name] = (json.loads(json.dumps(data)), description)


class ReportDouble:
    """The privacy report's interface: removed(what, count=1, detail="")."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, int, str]] = []

    def removed(self, what: str, count: int = 1, detail: str = "") -> None:
        self.rows.append((what, count, detail))


def test_register_credential_stores_builtin() -> None:
    registry = store.credential_stores()
    assert {"dpapi", "keyring", "passphrase", "plaintext"} <= set(registry.names())
    for entry in registry:
        if entry.name in ("dpapi", "keyring", "passphrase", "plaintext"):
            assert entry.plugin == "vault"
            assert isinstance(entry.value(), store.CredentialStore)
    assert registry.get("plaintext").plaintext and not registry.get("passphrase").plaintext


def test_register_credential_stores_third_party(tmp_path: Path) -> None:
    """A plugin's store is found by name and used like a built-in one."""
    import os as _os

    from printmanager_core import hookimpl

    class FixedKeyStore:
        name = "fixed-test"
        plaintext = False
        description = "a key from a test"

        def __init__(self) -> None:
            self.key = _os.urandom(32)

        def unavailable_reason(self) -> None:
            return None

        def create_key(self, request: store.KeyRequest) -> store.KeySlot:
            return store.KeySlot(self.key, {"kdf": "fixed-test"})

        def open_key(self, params: Any, request: store.KeyRequest) -> bytes:
            return self.key

        def forget_key(self, params: Any, request: store.KeyRequest) -> bool:
            return False

        def wrong_key(self) -> VaultError:
            return VaultError("wrong fixed key")

    class Plugin:
        @hookimpl
        def register_credential_stores(self, register: Any) -> None:
            register(FixedKeyStore)

    plugins.register_plugin(Plugin(), name="fixed-store-test")
    try:
        assert "fixed-test" in store.credential_stores()
        instance = FixedKeyStore()
        Vault(tmp_path, backend=instance).set("a", "b")
        assert Vault(tmp_path, backend=instance).get("a") == "b"
        assert parse((tmp_path / "vault.bin").read_bytes()).header.backend == "fixed-test"
        with pytest.raises(VaultError, match="wrong fixed key"):
            Vault(tmp_path, backend=FixedKeyStore()).get("a")
    finally:
        plugins.unregister_plugin("fixed-store-test")


def test_vault_hooks_are_registered() -> None:
    pm = plugins.get_plugin_manager()
    for hook in ("register_credential_stores", "register_commands", "export_user_data", "delete_user_data"):
        assert "vault" in [impl.plugin_name for impl in getattr(pm.hook, hook).get_hookimpls()], hook


def test_export_user_data_vault_names_only(library: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(store.ENV_PASSPHRASE, PASS)
    make_vault(library.directory)
    export = ExportDouble()
    printmanager_vault.export_user_data(library=library, export=export)
    data, description = export.files["vault.json"]
    assert data == {"names": sorted(SECRETS), "backend": "passphrase"}
    assert "never exported" in description
    dumped = json.dumps(data)
    assert not any(value in dumped for value in SECRETS.values())


def test_export_user_data_vault_locked_or_absent(library: Any) -> None:
    export = ExportDouble()
    printmanager_vault.export_user_data(library=library, export=export)
    assert export.files["vault.json"][0] == {"names": [], "backend": None}
    make_vault(library.directory)
    printmanager_vault.export_user_data(library=library, export=export)
    data = export.files["vault.json"][0]
    assert data["names"] is None and data["backend"] == "passphrase" and data["error"].startswith("names not exported")


def test_delete_user_data_vault_counts_and_removes(library: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    make_vault(library.directory)
    monkeypatch.setenv(store.ENV_PASSPHRASE, PASS)
    report = ReportDouble()
    printmanager_vault.delete_user_data(library=library, report=report)
    assert report.rows == [("vault entries", len(SECRETS), "")]
    assert not (library.directory / "vault.bin").exists()
    assert not list(library.directory.glob("vault*"))
    report = ReportDouble()
    printmanager_vault.delete_user_data(library=library, report=report)
    assert report.rows == []


def test_delete_user_data_vault_locked_or_damaged(library: Any) -> None:
    make_vault(library.directory)
    report = ReportDouble()
    printmanager_vault.delete_user_data(library=library, report=report)  # no passphrase: never prompts
    assert len(report.rows) == 1 and report.rows[0][:2] == ("vault file", 1)
    assert "not counted" in report.rows[0][2]
    assert not (library.directory / "vault.bin").exists()
    (library.directory / "vault.bin").write_bytes(b"garbage")
    report = ReportDouble()
    printmanager_vault.delete_user_data(library=library, report=report)
    assert report.rows[0][:2] == ("vault file", 1) and "unreadable" in report.rows[0][2]
    assert not (library.directory / "vault.bin").exists()


def test_module_functions_for_other_plugins(library: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(store.ENV_PASSPHRASE, PASS)
    assert get_secret(library, "sync.s3.access_key_id") is None
    assert not (library.directory / "vault.bin").exists(), "reading must not create a vault"
    printmanager_vault.set_secret(library, "sync.s3.access_key_id", "AKIA")
    assert get_secret(library, "sync.s3.access_key_id") == "AKIA"
    assert get_secret(library, "sync.s3.secret_access_key") is None
    assert printmanager_vault.delete_secret(library, "sync.s3.access_key_id") is True
    assert printmanager_vault.delete_secret(library, "sync.s3.access_key_id") is False


def test_backend_from_library_setting(library: Any) -> None:
    from printmanager_vault.vault import configured_backend

    assert configured_backend(library, env={}) is None
    library.settings.set("vault.backend", "plaintext")
    assert configured_backend(library, env={}) == "plaintext"
    assert configured_backend(library, env={store.ENV_BACKEND: "keyring"}) == "keyring"
    with pytest.warns(PlaintextVaultWarning):
        printmanager_vault.set_secret(library, "token", "t")
    assert parse((library.directory / "vault.bin").read_bytes()).header.backend == "plaintext"
