"""The vault's key stores: the OS keyring (a real gnome-keyring-daemon on a private
D-Bus session, started here), refusal of plaintext keyrings, and DPAPI's ctypes
layer (Win32 calls replaced at the ctypes edge off Windows; for real on Windows).
"""

from __future__ import annotations

import base64
import ctypes
import json
import os
import shutil
import subprocess
import sys
import time
from ctypes import wintypes
from pathlib import Path
from typing import Any, Iterator

import keyring
import keyring.errors
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from keyring.backend import KeyringBackend
from keyring.backends import SecretService, chainer, fail, null
from keyrings.alt import file as alt_file

import printmanager_vault
from printmanager_vault import (
    BackendUnavailable,
    Vault,
    VaultLocked,
    WrongKey,
    kdf,
    store,
)
from printmanager_vault.backends import DpapiStore, KeyringStore
from printmanager_vault.backends import dpapi
from printmanager_vault.backends.os_keyring import SERVICE, refusal_reason, usable_keyring
from printmanager_vault.fileformat import parse

SECRETS = {"sync.s3.access_key_id": "AKIAQWERTYUIOPASDFGH", "sync.s3.secret_access_key": "wJalrXUtnFEMI/K7MDENG"}
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def vault_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Cheap real scrypt, no passphrase/backend from the caller's env, no OS keyring, no tty prompt."""
    for name in (store.ENV_PASSPHRASE, store.ENV_NEW_PASSPHRASE, store.ENV_BACKEND):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(keyring.core, "_keyring_backend", fail.Keyring())

    def no_terminal(message: str, confirm: bool) -> str:
        raise VaultLocked("test: no terminal")

    monkeypatch.setattr(store, "terminal_prompt", no_terminal)
    kdf.set_scrypt_params_for_tests(kdf.TEST_SCRYPT)
    yield
    kdf.set_scrypt_params_for_tests(None)


def fill(vault: Vault) -> None:
    with vault.unlocked():
        for name, value in SECRETS.items():
            vault.set(name, value)


def assert_no_plaintext(path: Path) -> None:
    data = path.read_bytes()
    for name, value in SECRETS.items():
        assert name.encode() not in data and value.encode() not in data


# --- keyring: which backends are refused ----------------------------------------------


class MemoryKeyring(KeyringBackend):
    """A keyring kept in a dict: the edge for tests of the store's own logic."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.entries[(service, username)]
        except KeyError:
            raise keyring.errors.PasswordDeleteError("not found") from None


# keyring registers every subclass globally; keep this one out of keyring's own detection.
KeyringBackend._classes.discard(MemoryKeyring)  # type: ignore[attr-defined]


def test_plaintext_and_null_keyrings_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert "no OS keyring" in refusal_reason(fail.Keyring())
    assert "disabled" in refusal_reason(null.Keyring())
    assert "plaintext" in refusal_reason(alt_file.PlaintextKeyring())
    # keyrings.alt's password-file store is refused too (its __init__ needs pycryptodome; only the class matters)
    assert "keyrings.alt" in refusal_reason(alt_file.EncryptedKeyring.__new__(alt_file.EncryptedKeyring))
    assert refusal_reason(MemoryKeyring()) is None
    for backend in (fail.Keyring(), null.Keyring(), alt_file.PlaintextKeyring()):
        with pytest.raises(BackendUnavailable, match="OS keyring refused"):
            usable_keyring(backend)
        assert KeyringStore(backend).unavailable_reason() is not None


def test_secret_service_without_a_bus_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/nonexistent")
    assert "not usable here" in refusal_reason(SecretService.Keyring())


def test_chainer_is_unwrapped_and_plaintext_members_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    plain = alt_file.PlaintextKeyring()
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [plain])
    assert "no usable backend" in refusal_reason(chainer.ChainerBackend())
    memory = MemoryKeyring()
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [plain, memory])
    assert usable_keyring(chainer.ChainerBackend()) is memory


def test_automatic_choice_skips_a_plaintext_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """keyring's own pick on a machine with keyrings.alt and no OS keyring is PlaintextKeyring: refused."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(keyring.core, "_keyring_backend", alt_file.PlaintextKeyring())
    assert store.choose_backend("linux") == "passphrase"
    Vault(tmp_path / "lib", passphrase="a long passphrase", prompt=None).set("k", "v")
    assert parse((tmp_path / "lib" / "vault.bin").read_bytes()).header.backend == "passphrase"
    assert not list(tmp_path.rglob("keyring_pass.cfg")), "nothing may be written to the plaintext keyring"
    monkeypatch.setattr(keyring.core, "_keyring_backend", MemoryKeyring())
    assert store.choose_backend("linux") == "keyring"


def test_keyring_store_logic_with_memory_keyring(tmp_path: Path) -> None:
    memory = MemoryKeyring()
    vault = Vault(tmp_path, backend=KeyringStore(memory))
    fill(vault)
    assert_no_plaintext(tmp_path / "vault.bin")
    [(service, username)] = memory.entries
    assert service == SERVICE and len(base64.b64decode(memory.entries[(service, username)])) == 32
    assert {n: Vault(tmp_path, backend=KeyringStore(memory)).get(n) for n in SECRETS} == SECRETS
    # a different key under that entry, and a missing entry, are clear errors
    memory.entries[(service, username)] = base64.b64encode(os.urandom(32)).decode()
    with pytest.raises(WrongKey, match="does not open this vault"):
        Vault(tmp_path, backend=KeyringStore(memory)).names()
    memory.entries.clear()
    with pytest.raises(WrongKey, match="missing from the OS keyring"):
        Vault(tmp_path, backend=KeyringStore(memory)).names()
    # destroy() deletes the file and the keyring entry, and counts what was there
    other = Vault(tmp_path / "other", backend=KeyringStore(memory))
    other.set("a", "b")
    assert len(memory.entries) == 1
    result = other.destroy()
    assert (result.entries, result.file_removed, result.key_forgotten) == (1, True, True)
    assert memory.entries == {} and not (tmp_path / "other" / "vault.bin").exists()


# --- keyring: a real Secret Service ------------------------------------------------------


APT_HINT = "install it with: apt-get install -y --no-install-recommends gnome-keyring dbus"


def _wait_for_secret_service(address: str, daemon: subprocess.Popen[bytes]) -> None:
    """Wait until our daemon owns org.freedesktop.secrets.

    Asked with NameHasOwner, which does not activate anything: a Secret Service
    call made too early would make the bus start a second, prompting daemon.
    """
    from jeepney.bus_messages import message_bus
    from jeepney.io.blocking import open_dbus_connection

    deadline = time.monotonic() + 20
    with open_dbus_connection(bus=address) as connection:
        while not connection.send_and_get_reply(message_bus.NameHasOwner("org.freedesktop.secrets")).body[0]:
            if daemon.poll() is not None:
                pytest.fail(f"gnome-keyring-daemon exited with status {daemon.returncode}")
            if time.monotonic() > deadline:
                pytest.fail("gnome-keyring-daemon did not register org.freedesktop.secrets within 20 s")
            time.sleep(0.05)


@pytest.fixture
def secret_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A private D-Bus session bus with gnome-keyring-daemon serving org.freedesktop.secrets.

    Yields the environment a subprocess needs to reach it (the test process is pointed at it too).
    """
    for tool in ("dbus-daemon", "gnome-keyring-daemon"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed; {APT_HINT}")
    home = tmp_path / "gk-home"
    runtime = home / "run"
    runtime.mkdir(parents=True)
    runtime.chmod(0o700)
    env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / "data"), "XDG_RUNTIME_DIR": str(runtime)}
    bus = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address=1"],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    daemon = None
    try:
        address = (bus.stdout.readline() if bus.stdout else "").strip()
        assert address.startswith("unix:"), f"dbus-daemon gave no address ({address!r})"
        env["DBUS_SESSION_BUS_ADDRESS"] = address
        daemon = subprocess.Popen(
            ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        assert daemon.stdin is not None
        daemon.stdin.write(b"login keyring password for the test")
        daemon.stdin.close()
        for name in ("HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS"):
            monkeypatch.setenv(name, env[name])
        _wait_for_secret_service(address, daemon)
        yield env
    finally:
        for process in (daemon, bus):
            if process is not None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        if bus.stdout:
            bus.stdout.close()


def _service_items() -> list[Any]:
    import secretstorage

    connection = secretstorage.dbus_init()
    collection = secretstorage.get_default_collection(connection)
    return [(item.get_attributes(), item.get_secret()) for item in collection.search_items({"service": SERVICE})]


def test_keyring_round_trip_with_gnome_keyring(secret_service: dict[str, str], tmp_path: Path) -> None:
    real = SecretService.Keyring()
    assert refusal_reason(real) is None
    vault = Vault(tmp_path, backend=KeyringStore(real))
    fill(vault)
    assert_no_plaintext(tmp_path / "vault.bin")
    header = parse((tmp_path / "vault.bin").read_bytes()).header
    assert header.backend == "keyring" and header.key["service"] == SERVICE
    [(attributes, secret)] = _service_items()
    assert attributes["username"] == header.key["username"]
    assert len(base64.b64decode(secret)) == 32, "the keyring holds only the 32-byte data key"
    for value in SECRETS.values():
        assert value.encode() not in secret
    again = Vault(tmp_path, backend=KeyringStore(SecretService.Keyring()))
    assert {n: again.get(n) for n in again.names()} == SECRETS

    # rotation: a new data key under a new entry; the old entry is deleted after the write
    assert again.rotate() == len(SECRETS)
    [(attributes2, secret2)] = _service_items()
    assert attributes2["username"] != attributes["username"] and secret2 != secret
    assert {n: Vault(tmp_path, backend=KeyringStore(real)).get(n) for n in SECRETS} == SECRETS

    # deleting the user's data removes the keyring entry too
    removed: list[tuple[str, int, str]] = []

    class Report:
        def removed(self, what: str, count: int = 1, detail: str = "") -> None:
            removed.append((what, count, detail))

    class Lib:
        directory = tmp_path

    keyring.core.set_keyring(real)  # what keyring's own detection picks on this bus
    printmanager_vault.delete_user_data(library=Lib(), report=Report())
    assert ("vault entries", len(SECRETS), "") in removed
    assert ("vault key in the OS keyring", 1, "") in removed
    assert _service_items() == []


def test_cli_chooses_gnome_keyring_automatically(secret_service: dict[str, str], tmp_path: Path) -> None:
    """A fresh process: keyring's own detection finds the Secret Service, the vault uses it."""
    env = {k: v for k, v in secret_service.items() if not k.startswith("PRINTMANAGER_VAULT_")}
    env["PRINTMANAGER_LOAD_PLUGINS"] = "vault"
    library = tmp_path / "lib"
    exe = [sys.executable, "-m", "printmanager_core", "--library", str(library), "secrets"]

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*exe, *args], input=stdin, capture_output=True, text=True, env=env, timeout=60)

    result = run("set", "idp.refresh_token", stdin="rt-0123456789abcdef\n")
    assert result.returncode == 0, result.stderr
    listing = json.loads(run("ls", "--json").stdout)
    assert listing["backend"] == "keyring" and listing["names"] == ["idp.refresh_token"]
    assert run("get", "idp.refresh_token").stdout == "rt-0123456789abcdef\n"
    assert b"rt-0123456789abcdef" not in (library / "vault.bin").read_bytes()
    # without the bus, the same vault cannot be opened: a one-line error, no traceback
    no_bus = {k: v for k, v in env.items() if k != "DBUS_SESSION_BUS_ADDRESS"}
    no_bus["XDG_RUNTIME_DIR"] = str(tmp_path / "nowhere")
    result = subprocess.run([*exe, "get", "idp.refresh_token"], capture_output=True, text=True, env=no_bus, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("Error:") and len(result.stderr.strip().splitlines()) == 1


# --- DPAPI ---------------------------------------------------------------------------------


class FakeWin32:
    """CryptProtectData / CryptUnprotectData / LocalFree replaced at the ctypes edge.

    Each is a real ctypes function pointer built from the store's own prototypes
    (``dpapi.PROTECT_ARGTYPES`` ...), so the store's DATA_BLOB marshalling, its
    pointers and its LocalFree calls go through ctypes exactly as they would to
    crypt32.dll. The bodies stand in for the OS: AES-GCM under a per-"user"
    master key, with the optional entropy as associated data (like DPAPI, a
    blob opens only for the same user and the same entropy).
    """

    ERROR_INVALID_DATA = 13

    def __init__(self) -> None:
        self.master = os.urandom(32)
        self.allocations: dict[int, Any] = {}
        self.freed: list[int] = []
        self.calls: list[tuple[str, int, Any]] = []
        self.last = 0
        self.fail_protect = False
        self._protect = ctypes.CFUNCTYPE(wintypes.BOOL, *dpapi.PROTECT_ARGTYPES)(self.protect)
        self._unprotect = ctypes.CFUNCTYPE(wintypes.BOOL, *dpapi.UNPROTECT_ARGTYPES)(self.unprotect)
        self._local_free = ctypes.CFUNCTYPE(wintypes.HLOCAL, *dpapi.LOCALFREE_ARGTYPES)(self.local_free)

    def api(self) -> dpapi.Win32Api:
        return dpapi.Win32Api(self._protect, self._unprotect, self._local_free, lambda: self.last)

    @staticmethod
    def _read(blob: Any) -> bytes:
        if not blob:
            return b""
        return ctypes.string_at(blob.contents.pbData, blob.contents.cbData)

    def _write(self, out: Any, data: bytes) -> None:
        buffer = ctypes.create_string_buffer(data, len(data))
        self.allocations[ctypes.addressof(buffer)] = buffer
        out.contents.cbData = len(data)
        out.contents.pbData = ctypes.cast(buffer, ctypes.POINTER(ctypes.c_char))

    def protect(
        self, data_in: Any, description: str, entropy: Any, reserved: Any, prompt: Any, flags: int, out: Any
    ) -> int:
        self.calls.append(("protect", flags, description))
        assert reserved is None and prompt is None
        if self.fail_protect:
            self.last = 5  # ERROR_ACCESS_DENIED
            return 0
        nonce = os.urandom(12)
        self._write(out, nonce + AESGCM(self.master).encrypt(nonce, self._read(data_in), self._read(entropy)))
        return 1

    def unprotect(
        self, data_in: Any, description: Any, entropy: Any, reserved: Any, prompt: Any, flags: int, out: Any
    ) -> int:
        self.calls.append(("unprotect", flags, description))
        blob = self._read(data_in)
        try:
            data = AESGCM(self.master).decrypt(blob[:12], blob[12:], self._read(entropy))
        except (InvalidTag, ValueError):
            self.last = self.ERROR_INVALID_DATA
            return 0
        self._write(out, data)
        return 1

    def local_free(self, address: int | None) -> None:
        assert address in self.allocations, "LocalFree of memory DPAPI did not allocate"
        del self.allocations[address]
        self.freed.append(address)
        return None


def test_dpapi_ctypes_round_trip() -> None:
    fake = FakeWin32()
    blob = dpapi.protect(b"\x00secret\xff" * 4, b"entropy", fake.api())
    assert b"secret" not in blob
    assert dpapi.unprotect(blob, b"entropy", fake.api()) == b"\x00secret\xff" * 4
    assert fake.allocations == {} and len(fake.freed) == 2, "every output blob is LocalFree'd"
    assert [(name, flags) for name, flags, _ in fake.calls] == [
        ("protect", dpapi.CRYPTPROTECT_UI_FORBIDDEN),
        ("unprotect", dpapi.CRYPTPROTECT_UI_FORBIDDEN),
    ]
    assert fake.calls[0][2] == dpapi.DESCRIPTION
    assert not fake.calls[1][2], "ppszDataDescr is passed as NULL"
    with pytest.raises(dpapi.DpapiError, match="CryptUnprotectData failed .Windows error 13") as info:
        dpapi.unprotect(blob, b"other entropy", fake.api())
    assert info.value.code == 13
    fake.fail_protect = True
    with pytest.raises(dpapi.DpapiError, match="CryptProtectData failed .Windows error 5"):
        dpapi.protect(b"x", b"e", fake.api())


def test_dpapi_store_with_vault(tmp_path: Path) -> None:
    fake = FakeWin32()
    vault = Vault(tmp_path / "a", backend=DpapiStore(fake.api()))
    fill(vault)
    assert_no_plaintext(tmp_path / "a" / "vault.bin")
    header = parse((tmp_path / "a" / "vault.bin").read_bytes()).header
    assert header.backend == "dpapi" and header.key["kdf"] == "dpapi"
    again = Vault(tmp_path / "a", backend=DpapiStore(fake.api()))
    assert {n: again.get(n) for n in again.names()} == SECRETS
    assert fake.allocations == {}
    # another Windows user (another master key) cannot open it: one clear line
    with pytest.raises(WrongKey, match="another Windows user or machine") as info:
        Vault(tmp_path / "a", backend=DpapiStore(FakeWin32().api())).names()
    assert "\n" not in str(info.value)
    # the blob is bound to its vault (entropy = vault id): pasted into another vault it fails
    Vault(tmp_path / "b", backend=DpapiStore(fake.api())).set("x", "y")
    path_b = tmp_path / "b" / "vault.bin"
    other = parse(path_b.read_bytes())
    forged_key = dict(other.header.key, blob=header.key["blob"])
    import attrs

    from printmanager_vault.fileformat import encode_prefix

    path_b.write_bytes(encode_prefix(attrs.evolve(other.header, key=forged_key)) + other.body)
    with pytest.raises(WrongKey):
        Vault(tmp_path / "b", backend=DpapiStore(fake.api())).names()
    # rotation gives a new protected key
    assert again.rotate() == len(SECRETS)
    assert parse((tmp_path / "a" / "vault.bin").read_bytes()).header.key["blob"] != header.key["blob"]
    assert (
        Vault(tmp_path / "a", backend=DpapiStore(fake.api())).get("sync.s3.access_key_id")
        == SECRETS["sync.s3.access_key_id"]
    )


def test_dpapi_only_on_windows(tmp_path: Path) -> None:
    if sys.platform == "win32":
        assert DpapiStore().unavailable_reason() is None
        assert store.choose_backend() == "dpapi"
    else:
        assert "only on Windows" in DpapiStore().unavailable_reason()
        with pytest.raises(BackendUnavailable, match="only on Windows"):
            dpapi.load_win32_api()
        with pytest.raises(BackendUnavailable, match="'dpapi' cannot be used here"):
            Vault(tmp_path, backend="dpapi").set("a", "b")
        assert not (tmp_path / "vault.bin").exists()


@pytest.mark.windows
@pytest.mark.skipif(sys.platform != "win32", reason="real DPAPI exists only on Windows")
def test_dpapi_for_real_on_windows(tmp_path: Path) -> None:
    vault = Vault(tmp_path)  # automatic choice on Windows
    fill(vault)
    assert parse((tmp_path / "vault.bin").read_bytes()).header.backend == "dpapi"
    assert_no_plaintext(tmp_path / "vault.bin")
    again = Vault(tmp_path)
    assert {n: again.get(n) for n in again.names()} == SECRETS
    api = dpapi.load_win32_api()
    blob = dpapi.protect(b"k" * 32, b"entropy", api)
    assert dpapi.unprotect(blob, b"entropy", api) == b"k" * 32
    with pytest.raises(dpapi.DpapiError):
        dpapi.unprotect(blob, b"other entropy", api)
