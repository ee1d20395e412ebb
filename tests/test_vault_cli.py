"""``printmanager secrets``: the commands, their exit codes and their one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import keyring
import pytest
from click.testing import CliRunner, Result
from keyring.backends import fail

from printmanager_core.cli import cli, load_commands
from printmanager_vault import VaultLocked, kdf, store
from printmanager_vault.fileformat import parse

PASS = "correct horse battery staple"


@pytest.fixture(autouse=True)
def vault_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Cheap real scrypt, the passphrase in the env, no OS keyring, no tty prompt."""
    for name in (store.ENV_NEW_PASSPHRASE, store.ENV_BACKEND):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(store.ENV_PASSPHRASE, PASS)
    monkeypatch.setattr(keyring.core, "_keyring_backend", fail.Keyring())

    def no_terminal(message: str, confirm: bool) -> str:
        raise VaultLocked(
            f"the vault needs a passphrase and there is no terminal to ask on; set {store.ENV_PASSPHRASE}"
        )

    monkeypatch.setattr(store, "terminal_prompt", no_terminal)
    kdf.set_scrypt_params_for_tests(kdf.TEST_SCRYPT)
    load_commands()
    yield
    kdf.set_scrypt_params_for_tests(None)


@pytest.fixture
def run(tmp_path: Path):
    library = tmp_path / "library"

    def invoke(*args: str, stdin: str | None = None, env: dict[str, str | None] | None = None) -> Result:
        return CliRunner().invoke(cli, ["--library", str(library), "secrets", *args], input=stdin, env=env)

    invoke.library = library  # type: ignore[attr-defined]
    return invoke


def one_line_error(result: Result, *fragments: str) -> str:
    """Exit status 1, a single ``Error: ...`` line on stderr, no traceback."""
    assert result.exit_code == 1, (result.exit_code, result.output)
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_secrets_set_get_ls_rm(run) -> None:
    result = run("set", "sync.s3.access_key_id", stdin="AKIAQWERTYUIOPASDFGH\n")
    assert result.exit_code == 0, result.output
    assert "Stored 'sync.s3.access_key_id' (passphrase)" in result.stderr
    assert run("set", "sync.s3.secret_access_key", stdin="line one\nline two\r\n").exit_code == 0
    got = run("get", "sync.s3.access_key_id")
    assert got.exit_code == 0 and got.stdout == "AKIAQWERTYUIOPASDFGH\n"
    assert run("get", "sync.s3.secret_access_key").stdout == "line one\nline two\n"
    listing = run("ls")
    assert listing.stdout.splitlines() == ["sync.s3.access_key_id", "sync.s3.secret_access_key"]
    data = json.loads(run("ls", "--json").stdout)
    assert data["names"] == ["sync.s3.access_key_id", "sync.s3.secret_access_key"]
    assert data["backend"] == "passphrase" and data["kdf"] == "scrypt"
    assert "AKIA" not in listing.output + json.dumps(data)
    removed = run("rm", "sync.s3.access_key_id")
    assert removed.exit_code == 0 and "Removed" in removed.stderr
    assert run("ls").stdout.splitlines() == ["sync.s3.secret_access_key"]
    vault_bytes = (run.library / "vault.bin").read_bytes()
    assert b"sync.s3" not in vault_bytes and b"line one" not in vault_bytes


def test_secrets_ls_without_vault(run) -> None:
    result = run("ls", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["names"] == []
    assert not (run.library / "vault.bin").exists()


def test_secrets_missing_name(run) -> None:
    one_line_error(run("get", "nope"), "no secret named 'nope'")
    one_line_error(run("rm", "nope"), "no secret named 'nope'")
    run("set", "a", stdin="1")
    one_line_error(run("get", "nope"), "no secret named 'nope'")


def test_secrets_set_needs_a_value(run) -> None:
    one_line_error(run("set", "a", stdin=""), "no value given on stdin")
    one_line_error(run("set", " bad", stdin="v"), "leading/trailing spaces")


def test_secrets_wrong_passphrase(run) -> None:
    run("set", "a", stdin="1")
    before = (run.library / "vault.bin").read_bytes()
    for args, stdin in ((("get", "a"), None), (("ls",), None), (("set", "b"), "2"), (("rm", "a"), None)):
        one_line_error(
            run(*args, stdin=stdin, env={store.ENV_PASSPHRASE: "not the passphrase"}), "wrong vault passphrase"
        )
    assert (run.library / "vault.bin").read_bytes() == before


def test_secrets_no_passphrase_no_terminal(run) -> None:
    run("set", "a", stdin="1")
    one_line_error(run("get", "a", env={store.ENV_PASSPHRASE: None}), store.ENV_PASSPHRASE)


def test_secrets_tampered_and_truncated(run) -> None:
    run("set", "a", stdin="1")
    path = run.library / "vault.bin"
    good = path.read_bytes()
    prefix = len(parse(good).prefix)
    for position in (0, 9, 20, prefix - 1, prefix + 3, len(good) - 1):
        damaged = bytearray(good)
        damaged[position] ^= 0x04
        path.write_bytes(bytes(damaged))
        line = one_line_error(run("get", "a"))
        assert "vault" in line and "damaged" in line
    for length in (0, 5, prefix - 10, prefix + 5, len(good) - 1):
        path.write_bytes(good[:length])
        line = one_line_error(run("ls"))
        assert "empty" in line or "truncated" in line or "damaged" in line
    path.write_bytes(good)
    assert run("get", "a").stdout == "1\n"


def test_secrets_rotate(run) -> None:
    run("set", "a", stdin="1")
    one_line_error(run("rotate"), store.ENV_NEW_PASSPHRASE)
    result = run("rotate", env={store.ENV_NEW_PASSPHRASE: "the next passphrase"})
    assert result.exit_code == 0, result.output
    assert "Re-encrypted 1 secret under a new passphrase key" in result.stderr
    one_line_error(run("get", "a"), "wrong vault passphrase")
    assert run("get", "a", env={store.ENV_PASSPHRASE: "the next passphrase"}).stdout == "1\n"
    one_line_error(
        run("rotate", env={store.ENV_PASSPHRASE: "the next passphrase", store.ENV_NEW_PASSPHRASE: "x"}), "at least 8"
    )
    one_line_error(
        run(
            "rotate",
            "--to",
            "keyring",
            env={store.ENV_PASSPHRASE: "the next passphrase", store.ENV_NEW_PASSPHRASE: "z" * 9},
        ),
        "OS keyring refused",
    )


def test_secrets_plaintext_only_on_request(run) -> None:
    result = run("--backend", "plaintext", "set", "token", stdin="visible")
    assert result.exit_code == 0
    assert "NOT ENCRYPTED" in result.stderr
    assert b"visible" in (run.library / "vault.bin").read_bytes()
    one_line_error(run("get", "token"), "NOT ENCRYPTED")
    assert run("get", "token", env={store.ENV_BACKEND: "plaintext"}).stdout == "visible\n"
    moved = run("--backend", "plaintext", "rotate", "--to", "passphrase", env={store.ENV_NEW_PASSPHRASE: PASS})
    assert moved.exit_code == 0, moved.output
    assert b"visible" not in (run.library / "vault.bin").read_bytes()
    assert run("get", "token").stdout == "visible\n"


def test_secrets_unknown_and_unavailable_backend(run) -> None:
    one_line_error(run("--backend", "nope", "set", "a", stdin="1"), "unknown vault backend 'nope'")
    one_line_error(run("--backend", "keyring", "set", "a", stdin="1"), "OS keyring refused")
    assert not (run.library / "vault.bin").exists()
